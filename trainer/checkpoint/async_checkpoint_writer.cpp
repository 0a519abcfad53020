// async_checkpoint_writer.cpp - AsyncCheckpointWriter: a snapshot on the caller's thread, the
// file write and rotation on a background thread.
#include "trainer/checkpoint/async_checkpoint_writer.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "base/error.h"
#include "base/log.h"
#include "simcsepp/build_config.h"
#include "trainer/checkpoint/training_checkpoint.h"

#if SIMCSEPP_HAVE_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

namespace fs = std::filesystem;

namespace simcsepp::trainer {

NamedTensors snapshot_tensors(const NamedTensors& tensors) {
  torch::NoGradGuard no_grad;
  NamedTensors out;
  out.reserve(tensors.size());
  bool any_cuda = false;
  for (const auto& [name, t] : tensors) {
    const auto src = t.detach();
    if (src.is_cuda()) {
      any_cuda = true;
      auto host = torch::empty(src.sizes(), src.options().device(torch::kCPU).pinned_memory(true));
      host.copy_(src, /*non_blocking=*/true);  // ordered after the step's kernels on this stream
      out.emplace_back(name, host);
    } else {
      out.emplace_back(name, src.clone(at::MemoryFormat::Contiguous));
    }
  }
#if SIMCSEPP_HAVE_CUDA
  if (any_cuda) c10::cuda::getCurrentCUDAStream().synchronize();  // the copies are done before return
#else
  (void)any_cuda;
#endif
  return out;
}

void write_and_rotate(const CheckpointWrite& write) {
  fs::create_directories(write.dir);
  write_checkpoint_file(write.path, write.meta, write.tensors);
  if (write.keep > 0) {
    const auto files = list_checkpoints(write.dir);
    for (size_t i = 0; i + static_cast<size_t>(write.keep) < files.size(); ++i) std::remove(files[i].c_str());
  }
}

AsyncCheckpointWriter::AsyncCheckpointWriter(std::function<void(const std::string&, double)> on_written)
    : on_written_(std::move(on_written)) {}

AsyncCheckpointWriter::~AsyncCheckpointWriter() {
  try {
    wait();
  } catch (const std::exception& e) {
    LOG_ERROR("a checkpoint written in the background failed: " << e.what());
  }
}

void AsyncCheckpointWriter::wait() {
  if (thread_.joinable()) thread_.join();
  if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
}

void AsyncCheckpointWriter::submit(CheckpointWrite write) {
  wait();
  thread_ = std::thread([this, write = std::move(write)] {
    try {
      const auto t0 = std::chrono::steady_clock::now();
      write_and_rotate(write);
      if (on_written_)
        on_written_(write.path, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    } catch (const Error&) {
      failure_ = std::current_exception();
    } catch (const std::exception& e) {
      failure_ = std::make_exception_ptr(Error(std::string("checkpoint write failed: ") + e.what(), write.path,
                                               "check free space and permissions of the run directory"));
    }
  });
}

}  // namespace simcsepp::trainer
