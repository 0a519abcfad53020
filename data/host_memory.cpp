// host_memory.cpp - heap_host_memory (see host_memory.h); pinned memory is the trainer's
// (trainer/cuda_staging_ops.cpp).
#include "data/host_memory.h"

namespace simcsepp::data {
namespace {

class HeapHostMemory final : public HostMemory {
 public:
  std::shared_ptr<int64_t> allocate(int64_t elements) override {
    return std::shared_ptr<int64_t>(new int64_t[static_cast<size_t>(elements)], std::default_delete<int64_t[]>());
  }
};

}  // namespace

std::shared_ptr<HostMemory> heap_host_memory() { return std::make_shared<HeapHostMemory>(); }

}  // namespace simcsepp::data
