// fault_injection_mpi.cpp - failures that must end the job quickly with a clear message instead
// of hanging. DISABLED_ by default: tests/python/cluster_fault_test.py runs each one under
// mpirun with a short SIMCSEPP_COLLECTIVE_TIMEOUT_S and checks exit status, message and time.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>

#include "cluster/parameter_divergence.h"
#include "tests/cluster/mpi/mpi_test_env.h"

namespace simcsepp::cluster::testing {
namespace {

// The last rank is alive but never joins the collective (stuck): the watchdog must abort.
TEST(FaultInjection, DISABLED_StuckRankTimesOut) {
  auto x = torch::ones({16});
  if (comm().rank() == comm().world_size() - 1) {
    sleep(120);
    std::_Exit(0);
  }
  comm().all_reduce(x, ReduceOp::kSum);
}

// The last rank dies: the launcher (or the watchdog) must end the job.
TEST(FaultInjection, DISABLED_DeadRankEndsJob) {
  auto x = torch::ones({16});
  if (comm().rank() == comm().world_size() - 1) std::_Exit(7);
  comm().all_reduce(x, ReduceOp::kSum);
  comm().all_reduce(x, ReduceOp::kSum);
}

// Diverged parameters: the periodic check aborts with the parameter's name.
TEST(FaultInjection, DISABLED_DivergenceAborts) {
  std::vector<torch::Tensor> params = {torch::zeros({3}) + comm().rank()};
  DivergenceCheck check(comm(), {"encoder.layer.0.weight"}, params, 2);
  check.after_update(0);  // not a check step
  check.after_update(1);  // aborts
}

}  // namespace
}  // namespace simcsepp::cluster::testing
