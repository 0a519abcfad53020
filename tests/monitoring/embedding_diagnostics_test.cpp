// Tests of effective rank, alignment and uniformity on cases with known closed-form values.
// tests/python/monitoring_diagnostics_check.py compares them with torch on random matrices.
#include "monitoring/embedding_diagnostics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cluster/base/error.h"

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

TEST(Alignment, KnownValues) {
  // Identical pairs: 0. Orthogonal unit pairs: ||x - y||^2 = 2.
  const std::vector<float> x = {1, 0, 0, 2};  // rows (1,0), (0,2) -> normalised (0,1)
  EXPECT_NEAR(alignment(x, x, 2, 2), 0.0, 1e-12);
  const std::vector<float> y = {0, 3, 1, 0};
  EXPECT_NEAR(alignment(x, y, 2, 2), 2.0, 1e-12);
  EXPECT_NEAR(alignment(x, y, 2, 2, /*alpha=*/1.0), std::sqrt(2.0), 1e-12);
  EXPECT_THROW(alignment(x, y, 3, 2), Error);
}

TEST(Uniformity, KnownValues) {
  // Two antipodal points: ||x - y||^2 = 4 -> log exp(-2 * 4) = -8.
  EXPECT_NEAR(uniformity(std::vector<float>{1, 0, -2, 0}, 2, 2), -8.0, 1e-12);
  // Three identical points: every distance 0 -> log 1 = 0.
  EXPECT_NEAR(uniformity(std::vector<float>{1, 1, 1, 1, 1, 1}, 3, 2), 0.0, 1e-12);
  // Far below exp's range, still finite thanks to the log-sum-exp form.
  EXPECT_NEAR(uniformity(std::vector<float>{1, 0, -1, 0}, 2, 2, /*t=*/500.0), -2000.0, 1e-9);
  EXPECT_THROW(uniformity(std::vector<float>{1, 0}, 1, 2), Error);
}

}  // namespace
}  // namespace simcsepp::monitoring
