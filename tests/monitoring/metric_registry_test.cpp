// Tests of the metric registry: names, labels, histogram semantics, and concurrent scrapes.
#include "monitoring/metric_registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <sstream>
#include <thread>

#include "cluster/base/error.h"
#include "monitoring/text_exposition.h"

namespace simcsepp::monitoring {
namespace {

TEST(MetricRegistry, RejectsBadNamesAndDuplicates) {
  Registry registry;
  EXPECT_THROW(registry.gauge("1bad", "x"), Error);
  EXPECT_THROW(registry.gauge("bad-name", "x"), Error);
  EXPECT_THROW(registry.gauge("ok_name", "x", {"__reserved"}), Error);
  EXPECT_THROW(registry.gauge("ok_name", "x", {"a", "a"}), Error);
  EXPECT_THROW(registry.histogram("ok_hist", "x", {1, 2}, {"le"}), Error);
  EXPECT_THROW(registry.histogram("ok_hist", "x", {2, 1}), Error);
  registry.gauge("ok_name", "x", {"phase"});
  EXPECT_THROW(registry.counter("ok_name", "y"), Error);
  using Labels = std::map<std::string, std::string>;
  EXPECT_THROW(Registry(Labels{{"bad label", "v"}}), Error);
  EXPECT_TRUE(is_valid_metric_name("simcsepp:step_busy_seconds:rate5m"));
  EXPECT_FALSE(is_valid_label_name("with:colon"));
}

TEST(MetricRegistry, ChildNeedsOneValuePerLabel) {
  Registry registry;
  auto& family = registry.gauge("g", "x", {"op", "kind"});
  EXPECT_THROW(family.child({"all_reduce"}), Error);
  auto& a = family.child({"all_reduce", "grad"});
  EXPECT_EQ(&a, &family.child({"all_reduce", "grad"}));  // same child, stable reference
}

TEST(MetricRegistry, CountersNeverGoDown) {
  Registry registry;
  auto& c = registry.counter("c_total", "x").child();
  c.increment(2);
  c.increment(-5);
  c.increment(std::nan(""));
  EXPECT_EQ(c.value(), 2);
}

TEST(MetricRegistry, HistogramBucketsAreCumulativeAndCountMatchesInf) {
  Histogram h({1, 2, 4});
  for (double v : {0.5, 1.0, 1.5, 3.0, 4.0, 100.0}) h.observe(v);
  h.observe(std::nan(""));  // lands in +Inf only
  const auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{2, 3, 5, 7}));
  EXPECT_EQ(s.count, 7u);
  EXPECT_TRUE(std::isnan(s.sum));
}

TEST(MetricRegistry, BucketHelpers) {
  EXPECT_EQ(exponential_buckets(0.001, 2, 4), (std::vector<double>{0.001, 0.002, 0.004, 0.008}));
  EXPECT_EQ(linear_buckets(1, 0.5, 3), (std::vector<double>{1, 1.5, 2}));
  EXPECT_THROW(exponential_buckets(0, 2, 3), Error);
  // An explicit +Inf bound is folded into the implied one.
  Histogram h({1, INFINITY});
  EXPECT_EQ(h.upper_bounds(), std::vector<double>{1});
}

// A writer updates a counter, a gauge and a histogram as fast as it can while a reader renders
// the registry in a loop. Every scrape must parse, hold only values the writer wrote (no torn
// doubles), keep counters monotone, and keep each histogram self-consistent.
TEST(MetricRegistry, ScrapesDuringUpdatesSeeConsistentValues) {
  Registry registry(std::map<std::string, std::string>{{"rank", "0"}});
  auto& counter = registry.counter("w_total", "x").child();
  auto& gauge = registry.gauge("w_gauge", "x").child();
  auto& hist = registry.histogram("w_hist", "x", {0.25, 0.5, 0.75}).child();
  std::atomic<bool> stop{false};
  // Gauge values alternate between two bit patterns that differ in every byte, so a torn read
  // would produce a third value.
  const double kA = 1.0 / 3.0, kB = -12345.678901234567;
  std::thread writer([&] {
    for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      counter.increment(1);
      gauge.set(i % 2 ? kA : kB);
      hist.observe(double(i % 4) * 0.25);
    }
  });
  double last_counter = 0;
  int scrapes = 0;
  // Bounded by what it observes, not by wall time: scrape until 20 scrapes have seen the writer
  // move on since the previous one (reads overlapping writes), whatever the machine's speed.
  int overlapped = 0;
  while (overlapped < 20) {
    ASSERT_LT(scrapes, 1000000) << "the writer thread never advanced between scrapes";
    const double counter_before = last_counter;
    std::istringstream text(render_text(registry));
    std::string line;
    std::vector<double> buckets;
    double count = -1;
    while (std::getline(text, line)) {
      if (line.empty() || line[0] == '#') continue;
      const double value = std::stod(line.substr(line.rfind(' ') + 1));
      if (line.rfind("w_total", 0) == 0) {
        EXPECT_GE(value, last_counter);
        last_counter = value;
      } else if (line.rfind("w_gauge", 0) == 0) {
        EXPECT_TRUE(value == 0 || value == kA || value == kB) << line;
      } else if (line.rfind("w_hist_bucket", 0) == 0) {
        if (!buckets.empty()) {
          EXPECT_GE(value, buckets.back()) << line;
        }
        buckets.push_back(value);
      } else if (line.rfind("w_hist_count", 0) == 0) {
        count = value;
      }
    }
    ASSERT_EQ(buckets.size(), 4u);
    EXPECT_EQ(buckets.back(), count);  // +Inf bucket == _count in every scrape
    ++scrapes;
    if (scrapes > 1 && last_counter > counter_before) ++overlapped;
  }
  stop = true;
  writer.join();
  EXPECT_GT(last_counter, 0);
}

}  // namespace
}  // namespace simcsepp::monitoring
