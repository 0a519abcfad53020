// histogram_collectable.h - publishes simcsepp's LockFreeHistograms into prometheus-cpp at
// collect (scrape) time, as histogram families next to the prometheus::Registry's counters and
// gauges: the exposer serializes both with prometheus-cpp's text serializer.
//
// add() takes the mutex (set-up only) and returns a histogram whose observe() is lock-free and
// stays valid for the collectable's lifetime; Collect() takes the same mutex only to walk the
// list, never one the training thread takes.
#pragma once

#include <memory>
#include <mutex>
#include <prometheus/collectable.h>
#include <prometheus/labels.h>
#include <prometheus/metric_family.h>
#include <string>
#include <vector>

#include "monitoring/lock_free_histogram.h"

namespace simcsepp::monitoring {

class HistogramCollectable final : public prometheus::Collectable {
 public:
  // `constant_labels` go on every series (rank, host, run id), before the series' own labels.
  explicit HistogramCollectable(prometheus::Labels constant_labels);

  // A new histogram family with one series (no labels beyond the constant ones). Throws
  // simcsepp::Error on an invalid or duplicate name, or bad bounds.
  LockFreeHistogram& add(const std::string& name, const std::string& help, std::vector<double> upper_bounds);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Entry {
    std::string name;
    std::string help;
    std::unique_ptr<LockFreeHistogram> histogram;
  };
  std::vector<prometheus::ClientMetric::Label> constant_labels_;
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

}  // namespace simcsepp::monitoring
