// bootstrap_test.cpp - bootstrap outside any launcher (world of one), option validation, and
// the collective-timeout knob.
#include "cluster/bootstrap.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "base/error.h"
#include "cluster/mpi_runtime.h"

namespace simcsepp::cluster {
namespace {

TEST(Bootstrap, WithoutLauncherIsASingleProcess) {
  ASSERT_FALSE(launched_by_mpi_launcher()) << "run this test without mpirun";
  auto ctx = bootstrap_cluster("auto", "cpu");
  EXPECT_EQ(ctx.comm->backend(), "single");
  EXPECT_EQ(ctx.topology.world_size, 1);
  EXPECT_EQ(ctx.topology.rank, 0);
  EXPECT_FALSE(ctx.topology.host.empty());
  EXPECT_TRUE(ctx.device.is_cpu());
  EXPECT_NE(describe(ctx.topology).find("rank 0/1"), std::string::npos);
}

TEST(Bootstrap, BadOptionsNameTheOption) {
  try {
    bootstrap_cluster("gloo", "cpu");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "--comm");  // the train option that chose it
    EXPECT_FALSE(e.hint().empty());
  }
  try {
    bootstrap_cluster("auto", "tpu");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "--device");
  }
}

TEST(CollectiveTimeout, DefaultEnvAndBadValue) {
  unsetenv("SIMCSEPP_COLLECTIVE_TIMEOUT_S");
  EXPECT_EQ(collective_timeout_seconds(), 600.0);
  setenv("SIMCSEPP_COLLECTIVE_TIMEOUT_S", "2.5", 1);
  EXPECT_EQ(collective_timeout_seconds(), 2.5);
  setenv("SIMCSEPP_COLLECTIVE_TIMEOUT_S", "ten", 1);
  try {
    collective_timeout_seconds();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.where().find("SIMCSEPP_COLLECTIVE_TIMEOUT_S"), std::string::npos);
  }
  unsetenv("SIMCSEPP_COLLECTIVE_TIMEOUT_S");
}

}  // namespace
}  // namespace simcsepp::cluster
