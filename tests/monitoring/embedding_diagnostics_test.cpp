// Tests of effective rank on cases with known closed-form values.
// tests/python/monitoring_diagnostics_parity.py compares it with torch on random matrices.
#include "monitoring/embedding_diagnostics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "base/error.h"

namespace simcsepp::monitoring {
namespace {

TEST(EffectiveRank, KnownValues) {
  EXPECT_NEAR(effective_rank(std::vector<double>{5, 5, 5, 5}), 4.0, 1e-12);
  EXPECT_NEAR(effective_rank(std::vector<double>{3, 0, 0}), 1.0, 1e-12);
  // p = (0.75, 0.25): H = -(0.75 ln 0.75 + 0.25 ln 0.25)
  const double h = -(0.75 * std::log(0.75) + 0.25 * std::log(0.25));
  EXPECT_NEAR(effective_rank(std::vector<double>{3, 1}), std::exp(h), 1e-12);
  EXPECT_EQ(effective_rank(std::vector<double>{0, 0}), 0.0);
  EXPECT_THROW(effective_rank(std::vector<double>{1, -1}), Error);
  EXPECT_THROW(effective_rank(std::vector<double>{1, NAN}), Error);
}

}  // namespace
}  // namespace simcsepp::monitoring
