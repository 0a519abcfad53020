// spearman_test.cpp - average ranks and Spearman against hand-computed values (ties included).
#include "evaluation/spearman.h"

#include <gtest/gtest.h>

#include <cmath>

#include "base/error.h"

namespace simcsepp::evaluation {
namespace {

TEST(Spearman, AverageRanksShareTiedPositions) {
  // Sorted: 10 (rank 1), 20 20 (ranks 2,3 -> 2.5), 30 (4), 5 goes first overall.
  const auto r = average_ranks({20, 10, 30, 20, 5});
  EXPECT_EQ(r, (std::vector<double>{3.5, 2, 5, 3.5, 1}));
  // Three-way tie spans ranks 1..3 -> 2 each.
  EXPECT_EQ(average_ranks({7, 7, 7, 8}), (std::vector<double>{2, 2, 2, 4}));
}

TEST(Spearman, HandComputedCaseWithTiesInBothInputs) {
  // x ranks: 1, 2.5, 2.5, 4, 5; y = {2,1,3,3,5} ranks: 2, 1, 3.5, 3.5, 5.
  // Centred (mean 3): dx = -2,-.5,-.5,1,2; dy = -1,-2,.5,.5,2.
  // sum dx*dy = 2+1-.25+.5+4 = 7.25; sum dx^2 = sum dy^2 = 9.5; rho = 7.25/9.5.
  const double rho = spearman({1, 2, 2, 3, 4}, {2, 1, 3, 3, 5});
  EXPECT_NEAR(rho, 7.25 / 9.5, 1e-12);
  // scipy.stats.spearmanr([1,2,2,3,4],[2,1,3,3,5]) prints 0.7631578947368421.
  EXPECT_NEAR(rho, 0.7631578947368421, 1e-12);
}

TEST(Spearman, MonotoneTransformsGiveOneAndMinusOne) {
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {10, 100, 1000, 10000}), 1.0);
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {0.4, 0.3, 0.2, -5}), -1.0);
}

TEST(Spearman, PearsonOnHandComputedValues) {
  // x = 1,2,3; y = 1,3,2: centred -1,0,1 and -1,1,0 -> 1 / sqrt(2*2) = 0.5.
  EXPECT_NEAR(pearson({1, 2, 3}, {1, 3, 2}), 0.5, 1e-15);
}

TEST(Spearman, UndefinedCasesAreNaN) {
  EXPECT_TRUE(std::isnan(spearman({1, 1, 1}, {1, 2, 3})));
  EXPECT_TRUE(std::isnan(spearman({1}, {2})));
  EXPECT_TRUE(std::isnan(spearman({1, NAN, 3}, {1, 2, 3})));
}

TEST(Spearman, LengthMismatchThrows) { EXPECT_THROW(spearman({1, 2, 3}, {1, 2}), Error); }

}  // namespace
}  // namespace simcsepp::evaluation
