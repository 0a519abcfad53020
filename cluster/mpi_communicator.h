// mpi_communicator.h - the Communicator over MPI for CPU tensors (Open MPI; also the transport
// NCCL bootstraps over).
//
// Supported dtypes: float32, float64, int32, int64, uint8/bool (reductions and data movement);
// float16 and bfloat16: data movement bit-exact as 16-bit words, reductions computed in float32
// and rounded once (MPI has no 16-bit float type). kAvg = sum then divide by world (floating
// dtypes only). Tensors must be CPU and contiguous; element counts per call must fit an int.
//
// Threading: collectives from one thread (the training thread). A watchdog thread aborts the job
// (MPI_Abort, rank and host in the message) when one collective exceeds the timeout.
#pragma once

#include <mpi.h>

#include <memory>

#include "cluster/collective_watchdog.h"
#include "cluster/communicator.h"

namespace simcsepp::cluster {

class MpiCommunicator final : public Communicator {
 public:
  // Duplicates `parent` (so simcsepp's traffic cannot match anyone else's). MPI must be
  // initialised. timeout_s <= 0: no watchdog.
  explicit MpiCommunicator(MPI_Comm parent = MPI_COMM_WORLD, double timeout_s = 600.0);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string backend() const override { return "mpi"; }
  void all_reduce(at::Tensor& tensor, ReduceOp op) override;
  at::Tensor all_gather(const at::Tensor& tensor) override;
  at::Tensor reduce_scatter(const at::Tensor& input) override;
  void broadcast(at::Tensor& tensor, int root) override;
  void barrier() override;
  [[noreturn]] void abort(const std::string& reason) override;

  MPI_Comm mpi_comm() const { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int world_ = 1;
  double timeout_s_;
  InFlightClock in_flight_;
  std::unique_ptr<CollectiveWatchdog> watchdog_;
};

}  // namespace simcsepp::cluster
