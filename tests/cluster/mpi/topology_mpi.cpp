// topology_mpi.cpp - topology discovery and bootstrap under mpirun (one node: every rank is
// local), checked against the launcher's own environment.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>

#include "base/error.h"
#include "cluster/bootstrap.h"
#include "cluster/mpi_runtime.h"
#include "tests/cluster/mpi/mpi_test_env.h"

namespace simcsepp::cluster::testing {
namespace {

TEST(Topology, MatchesMpiAndLauncher) {
  auto t = discover_mpi_topology();
  EXPECT_EQ(t.rank, comm().rank());
  EXPECT_EQ(t.world_size, comm().world_size());
  EXPECT_EQ(t.local_size, t.world_size);  // mpirun on one host
  EXPECT_EQ(t.local_rank, t.rank);
  if (const char* lr = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK")) {
    EXPECT_EQ(t.local_rank, std::atoi(lr));
  }
  EXPECT_FALSE(t.host.empty());
  EXPECT_TRUE(launched_by_mpi_launcher());
}

TEST(Bootstrap, AutoOnCpuPicksMpi) {
  auto ctx = bootstrap_cluster("auto", "cpu");
  EXPECT_EQ(ctx.comm->backend(), "mpi");
  EXPECT_EQ(ctx.comm->world_size(), comm().world_size());
  EXPECT_EQ(ctx.comm->rank(), comm().rank());
  EXPECT_TRUE(ctx.device.is_cpu());
  EXPECT_EQ(ctx.topology.world_size, comm().world_size());
  EXPECT_THROW(bootstrap_cluster("single", "cpu"), simcsepp::Error);  // would train W separate models
  EXPECT_THROW(bootstrap_cluster("nccl", "cpu"), simcsepp::Error);
}

}  // namespace
}  // namespace simcsepp::cluster::testing
