// Tests of simcsepp's lock-free histogram: Prometheus bucket semantics, and snapshots taken while
// other threads observe (what a scrape does during training).
#include "monitoring/lock_free_histogram.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <thread>

#include "base/error.h"

namespace simcsepp::monitoring {
namespace {

TEST(LockFreeHistogram, BucketsAreCumulativeWithInclusiveUpperBounds) {
  LockFreeHistogram h({1, 2, 4});
  for (double v : {0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 100.0}) h.observe(v);
  h.observe(std::nan(""));  // NaN counts in +Inf only
  const auto s = h.snapshot();
  ASSERT_EQ(s.cumulative.size(), 4u);
  EXPECT_EQ(s.cumulative[0], 2u);  // 0.5, 1.0 (le="1" includes 1)
  EXPECT_EQ(s.cumulative[1], 4u);  // + 1.5, 2.0
  EXPECT_EQ(s.cumulative[2], 6u);  // + 3.0, 4.0
  EXPECT_EQ(s.cumulative[3], 8u);  // + 100, NaN
  EXPECT_EQ(s.count, 8u);
  EXPECT_TRUE(std::isnan(s.sum));  // a NaN observation poisons the sum, as in every client library
}

TEST(LockFreeHistogram, SumAndExplicitInfBound) {
  LockFreeHistogram h({0.1, 1, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(h.upper_bounds().size(), 2u);  // +Inf is implied, not repeated
  h.observe(0.25);
  h.observe(0.5);
  EXPECT_DOUBLE_EQ(h.snapshot().sum, 0.75);
}

TEST(LockFreeHistogram, RejectsBoundsThatDoNotIncrease) {
  EXPECT_THROW(LockFreeHistogram({2, 1}), Error);
  EXPECT_THROW(LockFreeHistogram({1, 1}), Error);
  EXPECT_THROW(exponential_buckets(0, 2, 4), Error);
  EXPECT_THROW(linear_buckets(0, 0, 4), Error);
  EXPECT_EQ(exponential_buckets(0.001, 2, 3), (std::vector<double>{0.001, 0.002, 0.004}));
  EXPECT_EQ(linear_buckets(1, 0.5, 3), (std::vector<double>{1, 1.5, 2}));
}

TEST(LockFreeHistogram, SnapshotsDuringConcurrentObservesAreConsistent) {
  // Four writers observe while a reader snapshots: every snapshot is cumulative (monotone in le),
  // its +Inf bucket equals its count, counts never go backwards; at the end nothing is lost.
  LockFreeHistogram h(exponential_buckets(1, 2, 10));
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 200000;
  std::atomic<int> running{kWriters};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) h.observe(double((i + w) % 1500));
      --running;
    });
  }
  std::uint64_t last_count = 0;
  int snapshots = 0;
  while (running > 0 || snapshots == 0) {
    const auto s = h.snapshot();
    for (std::size_t i = 1; i < s.cumulative.size(); ++i) ASSERT_LE(s.cumulative[i - 1], s.cumulative[i]);
    ASSERT_EQ(s.cumulative.back(), s.count);
    ASSERT_GE(s.count, last_count);
    last_count = s.count;
    ++snapshots;
  }
  for (auto& t : writers) t.join();
  const auto s = h.snapshot();
  EXPECT_EQ(s.count, std::uint64_t(kWriters) * kPerWriter);
  // Exact: every value is an integer below 2^53, so the atomic double sum has no rounding.
  double expected = 0;
  for (int w = 0; w < kWriters; ++w) {
    for (int i = 0; i < kPerWriter; ++i) expected += double((i + w) % 1500);
  }
  EXPECT_EQ(s.sum, expected);
  EXPECT_GT(snapshots, 0);
}

}  // namespace
}  // namespace simcsepp::monitoring
