// cuda_graph_update.h - the captured update (--cuda-graphs): TrainStep::run_update recorded once
// into a CUDA graph and replayed every step.
//
// Why: the eager step launches about 3,000 kernels; at batch 64 the host cannot issue them as
// fast as an H200 runs them (issue 14's review: 12-18 ms of host time per step against a 4 ms
// floor). A replay is one launch.
//
// What the graph holds: the whole update - zeroing the gradient buffer and the step scalars, both
// encoder calls with bf16 autocast, the loss, backward, the global norm, the non-finite and stop
// flags, clipping, fused AdamW reading its rate from the device update counter, the counter's
// increment. Each replay reads the static input buffers (the step copies the staged tokens into
// them first, on the device), the persistent stop flag, and writes the persistent step scalars;
// TrainStep::publish() then snapshots them outside the graph. Dropout draws new masks at every
// replay: the default CUDA generator is registered with the graph (CUDAGraph::capture_begin
// does so), its Philox offset read from device memory and advanced on the host by the graph's
// whole increment per replay - the offsets the eager update would have used.
//
// How (PyTorch's whole-network capture recipe): the first `warmup` updates run eagerly on a side
// stream (lazy cuBLAS/cuDNN and allocator set-up, the reducer learning which parameters get
// gradients); then the device is synchronised, the allocator's cache emptied (warm-up blocks are
// not kept beside the graph's private pool), the next update captured in thread-local mode (the
// reader's prefetch thread and the checkpoint writer may call CUDA meanwhile; global mode would
// invalidate the capture) and replayed. Every update runs on that side stream (StreamScope): it
// waits for the ambient stream first and the ambient stream waits for it at the end, so what
// runs between steps on the ambient stream (evaluation, checkpoint copies) is ordered with it.
// An update whose token shapes differ from the captured ones runs eagerly (the graph is kept).
//
// Every rank captures at the same update (the warm-up count) and replays in lockstep, so the
// ranks' collectives stay in the same order; a rank that runs one update eagerly (another shape)
// issues the same collectives eagerly.
// What is not captured: cuda_graph_blocker() names it, the step then stays eager and the run logs
// the reason. A capture that fails throws simcsepp::Error (HINT: --cuda-graphs off).
// Unverified on a GPU until the device check's graph stage has run (docs/performance.md).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cluster/communicator.h"
#include "trainer/train_step.h"

namespace simcsepp::trainer {

// Why `config` on `device` with `comm` cannot be captured; empty when it can. Host logic only
// (tested on CPU): CPU device, a build without CUDA, the MPI communicator (host collectives),
// DiffCSE (masks drawn on the host per update), gradient caching (its chunk loop follows the
// batch on the host). With NCCL the collectives are captured: the bucket all-reduces launched
// from backward hooks onto the communication stream (overlap kept), the negatives' all-gather,
// the flag all-reduce; each replay is handed to the watchdog (Communicator::watch_device_work).
std::string cuda_graph_blocker(const TrainStepConfig& config, const cluster::Communicator& comm, torch::Device device);

class CapturedUpdate {
 public:
  // The update body: run it on `inputs`; `capturing` is true while it is being recorded (the
  // body then records no timing events). Returns the anchor embeddings it produced.
  using Body = std::function<torch::Tensor(const UpdateInputs& inputs, bool capturing)>;

  CapturedUpdate(torch::Device device, int64_t warmup);
  ~CapturedUpdate();
  CapturedUpdate(const CapturedUpdate&) = delete;
  CapturedUpdate& operator=(const CapturedUpdate&) = delete;

  // One update, inside a StreamScope: eager while warming up (or for other shapes, or in the
  // test-only keyed dropout mode), captured and replayed at the end of warm-up, replayed after.
  torch::Tensor run(const UpdateInputs& inputs, const Body& body);

  int64_t eager_updates() const { return eager_; }
  int64_t replays() const { return replays_; }
  bool captured() const;

  // The side stream is current while alive; ordered after the ambient stream on entry, the
  // ambient stream after it on exit (device-side waits, no host synchronisation).
  class StreamScope {
   public:
    explicit StreamScope(CapturedUpdate& update);
    ~StreamScope();
    StreamScope(const StreamScope&) = delete;
    StreamScope& operator=(const StreamScope&) = delete;

   private:
    struct State;
    std::unique_ptr<State> state_;
  };

 private:
  struct Impl;  // the CUDA graph, the side stream, the static buffers (CUDA builds only)
  std::unique_ptr<Impl> impl_;
  int64_t warmup_;
  int64_t eager_ = 0;
  int64_t replays_ = 0;
};

}  // namespace simcsepp::trainer
