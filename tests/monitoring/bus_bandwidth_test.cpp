// Tests of the nccl-tests bandwidth formulas.
#include "monitoring/bus_bandwidth.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace simcsepp::monitoring {
namespace {

TEST(BusBandwidth, NcclTestsFactors) {
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor("all_reduce", 8), 2.0 * 7 / 8);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor("all_gather", 8), 7.0 / 8);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor("reduce_scatter", 4), 3.0 / 4);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor("all_to_all", 2), 0.5);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor("broadcast", 16), 1.0);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor("all_reduce", 1), 0.0);  // one rank moves nothing
  EXPECT_THROW(bus_bandwidth_factor("all_reduce", 0), Error);
  EXPECT_THROW(bus_bandwidth_factor("allreduce", 2), Error);
}

TEST(BusBandwidth, FromBytesAndSeconds) {
  EXPECT_DOUBLE_EQ(algorithm_bandwidth(2e9, 0.5), 4e9);
  EXPECT_DOUBLE_EQ(bus_bandwidth("all_reduce", 2e9, 0.5, 2), 4e9);  // 2 * (2-1)/2 = 1
  EXPECT_EQ(algorithm_bandwidth(1e9, 0.0), 0.0);                    // unmeasured, not infinite
}

}  // namespace
}  // namespace simcsepp::monitoring
