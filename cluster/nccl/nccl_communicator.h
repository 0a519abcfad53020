// nccl_communicator.h - the Communicator over NCCL for CUDA tensors (one GPU per rank).
//
// Bootstrap: rank 0 creates the ncclUniqueId, MPI_Bcast hands it to every rank, then
// ncclCommInitRank on the GPU this rank bound (its local rank).
// Streams: every collective runs on one dedicated high-priority communication stream. An event
// recorded on the caller's current stream orders it after the work that produced its input;
// the synchronous calls (all_reduce, all_gather, ...) make the current stream wait on the
// collective's completion event - no host synchronisation. all_reduce_async leaves that wait to
// CollectiveWork::wait(), which is how gradient buckets overlap the rest of backward.
// Tensors touched by the communication stream are recorded with the caching allocator
// (recordStream) so their memory is not reused while NCCL still reads or writes it.
// Timing: with collective listeners (communicator.h), enter()/leave() record a timing event
// pair around each collective on the communication stream; the watchdog resolves it once the
// collective completed and reports the device duration (host_blocking = false).
// CUDA graph capture (trainer/cuda_graph_update.h): a collective issued while the current stream
// is capturing joins the capture through the same events (the communication stream forks from
// and joins the captured stream); it gets no timing pair and is not queued for the watchdog, as
// its events are never completed. Each replay is queued instead, by watch_device_work().
// (Unverified on a GPU: no device has run a capture yet.)
// Failure handling: a watchdog thread polls ncclCommGetAsyncError and the completion events of
// queued collectives; an async error or a collective older than the timeout calls
// ncclCommAbort and MPI_Abort with rank, host and the NCCL error in the message.
// Shutdown: the destructor finalises (flush, then destroy) with the watchdog still running, so
// a peer that never completes makes it abort after the timeout instead of hanging; while an
// exception unwinds, after an async NCCL error or a sticky CUDA error it calls ncclCommAbort
// instead, which does not wait. The unique-id broadcast runs under the same timeout.
// Threading: collectives from the training thread (or the autograd thread during backward, one
// at a time); the watchdog only polls.
// dtypes: float32/64, float16, bfloat16, int32/64, uint8/bool (bool reductions: kMax only).
#pragma once

#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "cluster/collective_watchdog.h"
#include "cluster/communicator.h"

namespace simcsepp::cluster {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `bootstrap` (all its ranks call this); `device_index` is this rank's GPU.
  // timeout_s <= 0: no timeout (async errors are still polled).
  NcclCommunicator(MPI_Comm bootstrap, int device_index, double timeout_s);
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string backend() const override { return "nccl"; }
  void all_reduce(at::Tensor& tensor, ReduceOp op) override;
  std::unique_ptr<CollectiveWork> all_reduce_async(at::Tensor& tensor, ReduceOp op) override;
  at::Tensor all_gather(const at::Tensor& tensor) override;
  at::Tensor reduce_scatter(const at::Tensor& input) override;
  void broadcast(at::Tensor& tensor, int root) override;
  void barrier() override;
  void watch_device_work(const char* what) override;
  [[noreturn]] void abort(const std::string& reason) override;

 private:
  // Completion events are shared by the watchdog queue and the CollectiveWork handed out;
  // destroyed when both let go.
  using Event = std::shared_ptr<CUevent_st>;
  struct Pending {
    Event done;
    Event timing_start;  // timing pair with `done` when listeners want durations; else null
    const char* op;
    long long bytes;
    long long sequence;
    std::chrono::steady_clock::time_point start;
  };

  // Comm stream waits for the current stream (and, with listeners, records the start event of
  // the collective's timing pair); returns the current stream.
  c10::cuda::CUDAStream enter(const at::Tensor& t, const char* op);
  // Records completion on the comm stream, hands the event to the watchdog (unless the stream
  // is capturing); returns it.
  Event leave(const char* op, long long bytes);
  // A new event recorded on `stream` (with timing when `timing`).
  Event record_done(cudaStream_t stream, bool timing);
  // Queues `done` for the watchdog: timed out after timeout_s_, its duration reported when
  // `timing_start` is set.
  void watch(Event done, Event timing_start, const char* op, long long bytes);
  void check_call(ncclResult_t result, const char* call, const char* file, int line);
  std::string poll();  // the watchdog's check
  [[noreturn]] void abort_all(const std::string& reason);
  // Why finalize could hang (exception unwinding, async NCCL error, sticky CUDA error); "" if none.
  std::string unhealthy_reason();

  int rank_ = 0;
  int world_ = 1;
  int device_ = 0;
  double timeout_s_;
  int uncaught_at_construction_;  // std::uncaught_exceptions() then: > it in the destructor = unwinding
  std::atomic<ncclComm_t> comm_{nullptr};
  std::unique_ptr<c10::cuda::CUDAStream> stream_;
  cudaEvent_t ready_ = nullptr;
  Event next_start_;  // set by enter(), taken by leave()
  long long sequence_ = 0;
  std::mutex pending_mutex_;
  std::deque<Pending> pending_;
  InFlightClock in_flight_;  // blocking phases: init, barrier
  std::unique_ptr<CollectiveWatchdog> watchdog_;
};

}  // namespace simcsepp::cluster
