// mpi_test_main.cpp - GoogleTest main for tests run under mpirun: initialises MPI, runs every
// test on every rank, and fails the process on every rank if any rank failed. Collectives
// inside tests fail (watchdog abort) instead of hanging when ranks get out of step.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <memory>

#include "base/log.h"
#include "cluster/mpi_runtime.h"
#include "tests/cluster/mpi/mpi_test_env.h"

namespace simcsepp::cluster::testing {

namespace {
std::unique_ptr<MpiCommunicator> g_comm;
}

MpiCommunicator& comm() { return *g_comm; }

torch::Tensor rank_data(int tag, int r, at::IntArrayRef shape, torch::ScalarType dtype) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(tag) * 1000003u + r);
  if (dtype == torch::kLong || dtype == torch::kInt)
    return torch::randint(-1000, 1000, shape, gen, torch::TensorOptions().dtype(dtype));
  return torch::randn(shape, gen, torch::TensorOptions().dtype(torch::kFloat)).to(dtype);
}

}  // namespace simcsepp::cluster::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  simcsepp::cluster::ensure_mpi_initialized();
  auto topology = simcsepp::cluster::discover_mpi_topology();
  simcsepp::log::set_identity(topology.rank, topology.world_size, topology.host);
  torch::set_num_threads(1);  // ranks share 2 cores
  simcsepp::cluster::testing::g_comm = std::make_unique<simcsepp::cluster::MpiCommunicator>(
      MPI_COMM_WORLD, simcsepp::cluster::collective_timeout_seconds());
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any_failed && !failed) std::fprintf(stderr, "rank %d passed, but another rank failed\n", topology.rank);
  simcsepp::cluster::testing::g_comm.reset();
  simcsepp::cluster::finalize_mpi();
  return any_failed;
}
