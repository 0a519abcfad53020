// communicator.h - the collective operations the trainer needs, behind one small interface.
//
// Implementations: MpiCommunicator (CPU tensors, Open MPI), NcclCommunicator (CUDA tensors, NCCL
// on a dedicated stream ordered by events), SingleProcessCommunicator (world of one). The trainer
// and the objectives are written against this interface only, so every distributed property is
// tested on CPU under mpirun with the MPI implementation and holds for NCCL too.
//
// Contract: every rank calls the same collectives in the same order with tensors of the same
// shape and dtype. Calls come from the training thread only. Tensors must be contiguous.
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace simcsepp::cluster {

enum class ReduceOp { kSum, kAvg, kMax };

// A collective launched without waiting for it. wait() makes its result visible to work issued
// afterwards: on GPU the current stream waits on the communication stream (no host sync); on
// CPU the collective has already completed. Call wait() exactly once, from the training thread.
class CollectiveWork {
 public:
  virtual ~CollectiveWork() = default;
  virtual void wait() = 0;
};

// One finished collective, for the bandwidth metrics and the step-time split.
struct CollectiveTiming {
  const char* op = "";         // all_reduce, all_gather, reduce_scatter or broadcast
  double bytes = 0;            // nccl-tests size (monitoring/bus_bandwidth.h)
  double seconds = 0;          // from launch to completion
  bool host_blocking = false;  // true: the calling thread was blocked all that time (MPI);
                               // false: measured on the device while the host went on (NCCL)
};
using CollectiveListener = std::function<void(const CollectiveTiming&)>;

class Communicator {
  friend class HostCollectiveTimer;

 public:
  virtual ~Communicator() = default;

  // Listeners hear of every completed collective except barriers: MPI on the calling thread
  // right after the call, NCCL on its watchdog thread once the GPU has finished it - so they
  // must be thread-safe and cheap. Returns an id for remove_collective_listener(); remove a
  // listener before whatever it references goes away.
  int add_collective_listener(CollectiveListener listener);
  void remove_collective_listener(int id);

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // "mpi", "nccl" or "single".
  virtual std::string backend() const = 0;

  // In place: every rank ends with op over all ranks' `tensor`.
  virtual void all_reduce(at::Tensor& tensor, ReduceOp op) = 0;
  // As all_reduce, but may return before completion (NCCL: queued on the communication stream,
  // so the gradient reducer overlaps it with the rest of backward). `tensor` must stay alive
  // and unmodified until wait(). Default: synchronous all_reduce.
  virtual std::unique_ptr<CollectiveWork> all_reduce_async(at::Tensor& tensor, ReduceOp op);
  // Returns [world * d0, ...]: ranks' tensors concatenated along dim 0 in rank order.
  virtual at::Tensor all_gather(const at::Tensor& tensor) = 0;
  // input [world * d0, ...] -> [d0, ...]: rank r gets the sum over ranks of slice r.
  virtual at::Tensor reduce_scatter(const at::Tensor& input) = 0;
  // In place: every rank ends with root's `tensor`.
  virtual void broadcast(at::Tensor& tensor, int root) = 0;
  virtual void barrier() = 0;
  // The device work queued so far on the current stream holds collectives the collective
  // watchdog never saw (a CUDA graph replaying captured collectives, trainer/cuda_graph_update.h):
  // time it out like one, under `what`. Default (host collectives, one process): nothing to do.
  virtual void watch_device_work(const char* /*what*/) {}
  // Tear the job down from any rank (e.g. divergence, K skipped steps): never returns.
  [[noreturn]] virtual void abort(const std::string& reason) = 0;

  // True when the multi-rank paths run: the bucketed, hook-driven gradient reduction and the
  // autograd all-gather. In a world of one they are skipped (identity) unless forced for a test.
  bool runs_collectives() const { return forced_collectives_ || world_size() > 1; }
  // Test-only (SIMCSEPP_FORCE_COLLECTIVES=1, see bootstrap.h): take the multi-rank paths in a
  // world of one, so one GPU exercises NCCL's buckets, streams and the reduce-scatter backward.
  void force_collectives_for_testing(bool on) { forced_collectives_ = on; }

 protected:
  bool has_collective_listeners() const { return listener_count_.load(std::memory_order_relaxed) > 0; }
  void notify_collective(const CollectiveTiming& timing) const;

 private:
  mutable std::mutex listeners_mutex_;  // taken per collective, never across one
  std::vector<std::pair<int, CollectiveListener>> listeners_;
  std::atomic<int> listener_count_{0};
  int next_listener_id_ = 0;
  bool forced_collectives_ = false;
};

// Times a synchronous collective on the host; tells the communicator's listeners at scope exit.
class HostCollectiveTimer {
 public:
  HostCollectiveTimer(const Communicator& comm, const char* op, long long bytes)
      : comm_(comm.has_collective_listeners() ? &comm : nullptr),
        op_(op),
        bytes_(bytes),
        start_(std::chrono::steady_clock::now()) {}
  ~HostCollectiveTimer() {
    if (comm_ == nullptr) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    comm_->notify_collective({op_, static_cast<double>(bytes_), s, true});
  }
  HostCollectiveTimer(const HostCollectiveTimer&) = delete;
  HostCollectiveTimer& operator=(const HostCollectiveTimer&) = delete;

 private:
  const Communicator* comm_;
  const char* op_;
  long long bytes_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace simcsepp::cluster
