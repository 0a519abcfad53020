// cuda_staging_ops.cpp - StagingOps on CUDA (batch_stager.h): pinned host memory from the
// caching host allocator, a copy stream from the pool, events without timing; and the pinned
// HostMemory the reader packs batches into.
#include "trainer/batch_stager.h"

#include "base/error.h"
#include "simcsepp/build_config.h"

#if SIMCSEPP_HAVE_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/torch.h>
#endif

namespace simcsepp::trainer {

#if SIMCSEPP_HAVE_CUDA
namespace {

class CudaStagingOps final : public StagingOps {
 public:
  explicit CudaStagingOps(torch::Device device)
      : device_(device), copy_(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index())) {}

  torch::Tensor host_buffer(int64_t elements) override {
    return torch::empty({elements}, torch::TensorOptions().dtype(torch::kLong).pinned_memory(true));
  }
  torch::Tensor device_buffer(int64_t elements) override {
    auto t = torch::empty({elements}, torch::TensorOptions().dtype(torch::kLong).device(device_));
    // Written on the copy stream, read on the compute stream: tell the caching allocator, so
    // the memory is not handed out again while the copy stream may still use it.
    c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), copy_);
    return t;
  }
  int new_event() override {
    events_.push_back(std::make_unique<at::cuda::CUDAEvent>(cudaEventDisableTiming));
    return static_cast<int>(events_.size()) - 1;
  }
  void record(int event, Stream stream) override { events_.at(event)->record(cuda_stream(stream)); }
  void stream_wait(Stream stream, int event) override {
    // An event never recorded is complete: block() on it is a no-op (CUDAEvent semantics).
    events_.at(event)->block(cuda_stream(stream));
  }
  void host_wait(int event) override { events_.at(event)->synchronize(); }
  void copy(torch::Tensor& device, const torch::Tensor& host, Stream stream) override {
    c10::cuda::CUDAStreamGuard guard(cuda_stream(stream));
    device.copy_(host, /*non_blocking=*/true);  // pinned source: a true async copy
  }

 private:
  c10::cuda::CUDAStream cuda_stream(Stream s) const {
    return s == kCopy ? copy_ : c10::cuda::getCurrentCUDAStream(device_.index());
  }
  torch::Device device_;
  c10::cuda::CUDAStream copy_;
  std::vector<std::unique_ptr<at::cuda::CUDAEvent>> events_;
};

}  // namespace

std::unique_ptr<StagingOps> make_cuda_staging_ops(torch::Device device) {
  SIMCSEPP_CHECK(device.is_cuda() && device.has_index(), "make_cuda_staging_ops needs a CUDA device with an index");
  return std::make_unique<CudaStagingOps>(device);
}

namespace {
class CudaPinnedHostMemory final : public data::HostMemory {
 public:
  std::shared_ptr<int64_t> allocate(int64_t elements) override {
    // The tensor owns the pinned block; the pointer's deleter keeps it until the last copy of
    // the pointer goes (the stager drops it once the copy out of it has finished).
    auto block = torch::empty({elements}, torch::TensorOptions().dtype(torch::kLong).pinned_memory(true));
    int64_t* data = block.data_ptr<int64_t>();
    return std::shared_ptr<int64_t>(data, [block](int64_t*) mutable { block.reset(); });
  }
};
}  // namespace

std::shared_ptr<data::HostMemory> make_cuda_pinned_host_memory() { return std::make_shared<CudaPinnedHostMemory>(); }
#else
std::unique_ptr<StagingOps> make_cuda_staging_ops(torch::Device) {
  SIMCSEPP_CHECK(false, "CUDA staging in a build without CUDA");
  return nullptr;
}
std::shared_ptr<data::HostMemory> make_cuda_pinned_host_memory() {
  SIMCSEPP_CHECK(false, "pinned host memory in a build without CUDA");
  return nullptr;
}
#endif

}  // namespace simcsepp::trainer
