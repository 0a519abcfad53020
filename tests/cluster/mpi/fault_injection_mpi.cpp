// fault_injection_mpi.cpp - failures that must end the job quickly with a clear message instead
// of hanging. DISABLED_ by default: tests/python/cluster_fault_test.py runs each one under
// mpirun with a short SIMCSEPP_COLLECTIVE_TIMEOUT_S and checks exit status, message and time.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>

#include "cluster/mpi_runtime.h"
#include "cluster/parameter_divergence.h"
#include "simcsepp/build_config.h"
#include "tests/cluster/mpi/mpi_test_env.h"
#if SIMCSEPP_HAVE_NCCL
#include "cluster/nccl/nccl_bootstrap.h"
#endif

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

#if SIMCSEPP_HAVE_NCCL
// The NCCL rendezvous: rank 0 (the root of the unique-id broadcast) never gets there. The
// others must abort within the collective timeout, naming rank 0, instead of waiting forever.
TEST(FaultInjection, DISABLED_NcclBootstrapRootNeverJoins) {
  if (comm().rank() == 0) {
    sleep(120);
    std::_Exit(0);
  }
  broadcast_nccl_unique_id(MPI_COMM_WORLD, 0, collective_timeout_seconds());
}
#endif

}  // namespace
}  // namespace simcsepp::cluster::testing
