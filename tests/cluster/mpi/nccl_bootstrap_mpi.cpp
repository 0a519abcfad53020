// nccl_bootstrap_mpi.cpp - the NCCL communicator's rendezvous without a GPU: after
// broadcast_nccl_unique_id every rank holds the id rank 0 created, byte for byte (checked by
// all-gathering it), and the id is not empty. Across two hosts (and the reachability of its
// address from the other host) it is checked by tests/cluster/multinode/; a root that never joins
// by FaultInjection.DISABLED_NcclBootstrapRootNeverJoins (cluster_fault_test.py). Only where
// NCCL is built.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "simcsepp/build_config.h"
#include "tests/cluster/mpi/mpi_test_env.h"

#if SIMCSEPP_HAVE_NCCL
#include "cluster/mpi_runtime.h"
#include "cluster/nccl/nccl_bootstrap.h"

namespace simcsepp::cluster::testing {
namespace {

TEST(NcclBootstrap, EveryRankHoldsRootsUniqueId) {
  int rank = 0, world = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const ncclUniqueId id = broadcast_nccl_unique_id(MPI_COMM_WORLD, 0, collective_timeout_seconds());
  std::vector<char> all(sizeof(id) * static_cast<size_t>(world));
  MPI_Allgather(&id, sizeof(id), MPI_BYTE, all.data(), sizeof(id), MPI_BYTE, MPI_COMM_WORLD);
  const ncclUniqueId zero{};
  EXPECT_NE(std::memcmp(&id, &zero, sizeof(id)), 0) << "rank " << rank << " got an all-zero id";
  for (int r = 1; r < world; ++r) {
    EXPECT_EQ(std::memcmp(all.data(), all.data() + r * sizeof(id), sizeof(id)), 0)
        << "rank " << r << "'s NCCL unique id differs from rank 0's";
  }
}

// A second rendezvous (a new communicator) gets a new id: the broadcast is not a cached copy.
TEST(NcclBootstrap, EachRendezvousHasItsOwnId) {
  const ncclUniqueId a = broadcast_nccl_unique_id(MPI_COMM_WORLD, 0, collective_timeout_seconds());
  const ncclUniqueId b = broadcast_nccl_unique_id(MPI_COMM_WORLD, 0, collective_timeout_seconds());
  EXPECT_NE(std::memcmp(&a, &b, sizeof(a)), 0);
}

}  // namespace
}  // namespace simcsepp::cluster::testing
#endif
