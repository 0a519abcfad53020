// single_process_communicator.h - the Communicator of a world of one process: every collective
// is the identity (all_gather/reduce_scatter return the input). Used when simcsepp runs without
// mpirun, so the trainer has one code path.
#pragma once

#include "cluster/communicator.h"

namespace simcsepp::cluster {

class SingleProcessCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void all_reduce(at::Tensor&, ReduceOp) override {}
  at::Tensor all_gather(const at::Tensor& tensor) override { return tensor; }
  at::Tensor reduce_scatter(const at::Tensor& input) override { return input; }
  void broadcast(at::Tensor&, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& reason) override;
};

}  // namespace simcsepp::cluster
