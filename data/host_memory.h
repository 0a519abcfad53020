// host_memory.h - where the reader packs token batches bound for a device.
//
// On CUDA the trainer passes page-locked (pinned) memory: the prefetch thread then packs each
// batch straight into memory the GPU copies from asynchronously (trainer/batch_stager.h), and
// the training thread does no host copy at all. data/ knows nothing of CUDA: this is the seam.
#pragma once

#include <cstdint>
#include <memory>

namespace simcsepp::data {

class HostMemory {
 public:
  virtual ~HostMemory() = default;
  // A block of `elements` int64 values, alive while the returned pointer (or a copy) is.
  // Called from the reader's prefetch thread.
  virtual std::shared_ptr<int64_t> allocate(int64_t elements) = 0;
};

// Plain heap memory (tests; a device without pinned memory).
std::shared_ptr<HostMemory> heap_host_memory();

}  // namespace simcsepp::data
