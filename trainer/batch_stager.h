// batch_stager.h - token batches to the GPU without a host synchronisation: persistent pinned
// staging buffers, persistent device buffers, one non-blocking copy per step on a copy stream,
// ordered by events.
//
// A slot is one step's worth of tokens: a pinned host buffer H and a device buffer D holding
// every micro-batch's columns (ids then mask, rows x max_len int64 each). Slots are used in
// turn (two by default), so the host stages step k+1 while the GPU still runs step k. Per
// stage() of slot i:
//   1. host waits `copied[i]`   - the last copy out of H_i has finished before H_i is rewritten
//                                 (long done in steady state: it was issued a step ago);
//   2. host writes the batches into H_i;
//   3. copy stream waits `consumed[i]` - the last step that read D_i has finished on the
//                                 compute stream before the copy overwrites it;
//   4. copy stream: D_i <- H_i (non_blocking), then records `copied[i]`;
//   5. compute stream waits `copied[i]`; the returned tensors are views of D_i.
// release() after the step's work is queued records `consumed[i]` on the compute stream.
// The device work goes through StagingOps, so the ordering is tested on the CPU with a
// recording fake (tests/trainer/batch_stager_test.cpp); cuda_staging_ops.cpp is the real one.
// Buffers grow (never shrink) when a step needs more tokens (e.g. a short last batch is less).
//
// Packed batches (the trainer's path on CUDA): the reader's prefetch thread has already packed
// each micro-batch into one block of pinned memory in the slot layout (data::PackedTokens), so
// step 2 disappears - the training thread copies nothing on the host - and step 4 is one copy
// per micro-batch straight from its block into D_i. The slot keeps the blocks alive until step
// 1 of its next use (or the stager's destruction) has waited for `copied[i]`: a block is never
// freed, and so never reused by the allocator, while the copy may still read it.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "data/token_batch.h"

namespace simcsepp::trainer {

// The device operations the stager orders. Events and streams are named by small integers.
class StagingOps {
 public:
  enum Stream { kCompute = 0, kCopy = 1 };
  virtual ~StagingOps() = default;
  virtual torch::Tensor host_buffer(int64_t elements) = 0;    // int64, pinned on CUDA
  virtual torch::Tensor device_buffer(int64_t elements) = 0;  // int64 on the device
  virtual int new_event() = 0;
  virtual void record(int event, Stream stream) = 0;
  virtual void stream_wait(Stream stream, int event) = 0;  // device-side wait, no host sync
  virtual void host_wait(int event) = 0;                    // host blocks until the event
  virtual void copy(torch::Tensor& device, const torch::Tensor& host, Stream stream) = 0;  // async
};

// The CUDA implementation (one copy stream from the pool, events without timing); only in
// builds with CUDA.
std::unique_ptr<StagingOps> make_cuda_staging_ops(torch::Device device);
// Pinned host memory (the caching host allocator) for the reader to pack batches into
// (data::ReaderOptions::batch_memory); only in builds with CUDA.
std::shared_ptr<data::HostMemory> make_cuda_pinned_host_memory();

// ids and mask of every column of every micro-batch, [rows, max_len] int64 views of a slot.
struct StagedStep {
  std::vector<std::vector<torch::Tensor>> ids, masks;  // [micro-batch][column]
  int slot = -1;
};

class BatchStager {
 public:
  explicit BatchStager(std::unique_ptr<StagingOps> ops, int slots = 2);
  ~BatchStager();  // waits for the copies in flight before their host memory goes
  BatchStager(const BatchStager&) = delete;
  BatchStager& operator=(const BatchStager&) = delete;
  // `packed`: empty (staged through the slot's pinned buffer) or one block per micro-batch
  // holding exactly its columns (data::pack_tokens), copied from directly.
  StagedStep stage(const std::vector<std::vector<data::TokenBatch>>& micro_batches,
                   const std::vector<data::PackedTokens>& packed = {});
  // Call once the step that used `staged` is queued on the compute stream.
  void release(const StagedStep& staged);

 private:
  struct Slot {
    torch::Tensor host, device;
    std::vector<data::PackedTokens> in_flight;  // packed blocks the last copy read from
    int copied = -1, consumed = -1;
    bool copy_issued = false, released = true;
  };
  std::unique_ptr<StagingOps> ops_;
  std::vector<Slot> slots_;
  int next_ = 0;
};

}  // namespace simcsepp::trainer
