// hot_path_collectable.h - what the training step updates, kept off prometheus-cpp's own
// update path and copied into prometheus-cpp when a scrape collects.
//
// Why: prometheus-cpp's Gauge::Set and Counter::Increment are lock-free but sequentially
// consistent (an xchg / lock cmpxchg loop each) behind a shared-library call, and its
// Histogram::Observe takes a mutex. A step updates ~45 series; with prometheus-cpp's own updates
// that tripled the step cost (bench/bench_monitoring.cpp, docs/monitoring.md). So the step
// writes HotGauge / HotCounter (relaxed atomics, inlined) and LockFreeHistogram; Collect()
// copies them into their prometheus-cpp series (families, labels, names: prometheus-cpp's
// Registry) and serializes prometheus-cpp's MetricFamily model with the histograms appended.
//
// Threading: hot()/histogram() take the mutex (set-up, and once per late collective op);
// HotGauge/HotCounter/LockFreeHistogram updates take nothing; Collect() takes the mutex, so
// concurrent scrapes publish one at a time and never double-count a counter delta.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/labels.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "monitoring/lock_free_histogram.h"

namespace simcsepp::monitoring {

// A gauge value the step sets; published by the next scrape.
class HotGauge {
 public:
  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A counter value the step adds to; a scrape publishes the growth since the previous one.
class HotCounter {
 public:
  // Counters never go down: negative and NaN amounts are ignored (a NaN would poison it forever);
  // zero is skipped, which keeps unmeasured phases off the atomics.
  void add(double amount) {
    if (amount > 0.0) value_.fetch_add(amount, std::memory_order_relaxed);
  }
  void increment() { value_.fetch_add(1.0, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class HotPathCollectable final : public prometheus::Collectable {
 public:
  // `constant_labels` (rank, host, run id) go on the histograms' series; the registry's families
  // get them from their builders. Throws simcsepp::Error on an invalid label name.
  explicit HotPathCollectable(prometheus::Labels constant_labels);

  // Families are built here (prometheus::BuildGauge()...Register(registry())); set-up only.
  // Registering a name twice throws.
  prometheus::Registry& registry() { return registry_; }

  // The hot value behind a series of registry(); valid for this object's lifetime.
  HotGauge& hot(prometheus::Gauge& series);
  HotCounter& hot(prometheus::Counter& series);

  // A histogram family with one series (the constant labels only). Throws simcsepp::Error on an
  // invalid or duplicate name, or bad bounds.
  LockFreeHistogram& histogram(const std::string& name, const std::string& help, std::vector<double> upper_bounds);

  // Publishes every hot value into its series, then returns the registry's families and the
  // histograms.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct GaugeBinding {
    explicit GaugeBinding(prometheus::Gauge* s) : series(s) {}
    HotGauge hot;
    prometheus::Gauge* series;
  };
  struct CounterBinding {
    explicit CounterBinding(prometheus::Counter* s) : series(s), published(s->Value()) {}
    HotCounter hot;
    prometheus::Counter* series;
    double published;  // what the series holds (guarded by mutex_)
  };
  struct HistogramEntry {
    std::string name;
    std::string help;
    std::unique_ptr<LockFreeHistogram> histogram;
  };

  std::vector<prometheus::ClientMetric::Label> constant_labels_;
  prometheus::Registry registry_{prometheus::Registry::InsertBehavior::Throw};
  mutable std::mutex mutex_;
  std::deque<GaugeBinding> gauges_;  // deque: references stay valid as it grows
  mutable std::deque<CounterBinding> counters_;
  std::vector<HistogramEntry> histograms_;
};

}  // namespace simcsepp::monitoring
