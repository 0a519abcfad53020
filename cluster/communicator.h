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

#include <memory>
#include <string>

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

class Communicator {
 public:
  virtual ~Communicator() = default;

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
  // Tear the job down from any rank (e.g. divergence, K skipped steps): never returns.
  [[noreturn]] virtual void abort(const std::string& reason) = 0;
};

}  // namespace simcsepp::cluster
