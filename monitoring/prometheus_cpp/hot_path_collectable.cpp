// hot_path_collectable.cpp - see hot_path_collectable.h.
#include "monitoring/prometheus_cpp/hot_path_collectable.h"

#include <prometheus/check_names.h>

#include <limits>

#include "base/error.h"

namespace simcsepp::monitoring {

HotPathCollectable::HotPathCollectable(prometheus::Labels constant_labels) {
  for (const auto& [name, value] : constant_labels) {
    if (!prometheus::CheckLabelName(name)) {
      throw Error("invalid constant label name '" + name + "'", name,
                  "use [a-zA-Z_][a-zA-Z0-9_]*, not starting with __");
    }
    constant_labels_.push_back({name, value});
  }
}

HotGauge& HotPathCollectable::hot(prometheus::Gauge& series) {
  std::lock_guard<std::mutex> lock(mutex_);
  gauges_.emplace_back(&series);
  return gauges_.back().hot;
}

HotCounter& HotPathCollectable::hot(prometheus::Counter& series) {
  std::lock_guard<std::mutex> lock(mutex_);
  counters_.emplace_back(&series);
  return counters_.back().hot;
}

LockFreeHistogram& HotPathCollectable::histogram(const std::string& name, const std::string& help,
                                                 std::vector<double> upper_bounds) {
  if (!prometheus::CheckMetricName(name)) {
    throw Error("invalid metric name '" + name + "'", name, "use [a-zA-Z_:][a-zA-Z0-9_:]* (Prometheus naming)");
  }
  auto histogram = std::make_unique<LockFreeHistogram>(std::move(upper_bounds));
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& e : histograms_) {
    if (e.name == name) {
      throw Error("histogram '" + name + "' registered twice", name,
                  "register each family once and keep the reference");
    }
  }
  histograms_.push_back(HistogramEntry{name, help, std::move(histogram)});
  return *histograms_.back().histogram;
}

std::vector<prometheus::MetricFamily> HotPathCollectable::Collect() const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& g : gauges_) g.series->Set(g.hot.value());
  for (auto& c : counters_) {
    // The counter's growth since the last scrape; a HotCounter never decreases.
    const double now = c.hot.value();
    if (now > c.published) {
      c.series->Increment(now - c.published);
      c.published = now;
    }
  }
  auto out = registry_.Collect();
  out.reserve(out.size() + histograms_.size());
  for (const auto& e : histograms_) {
    const auto snap = e.histogram->snapshot();
    prometheus::ClientMetric metric;
    metric.label = constant_labels_;
    metric.histogram.sample_count = snap.count;
    metric.histogram.sample_sum = snap.sum;
    metric.histogram.bucket.reserve(snap.cumulative.size());
    for (std::size_t i = 0; i < snap.cumulative.size(); ++i) {
      prometheus::ClientMetric::Bucket b;
      b.cumulative_count = snap.cumulative[i];
      b.upper_bound = i < snap.upper_bounds.size() ? snap.upper_bounds[i] : std::numeric_limits<double>::infinity();
      metric.histogram.bucket.push_back(b);
    }
    prometheus::MetricFamily family;
    family.name = e.name;
    family.help = e.help;
    family.type = prometheus::MetricType::Histogram;
    family.metric.push_back(std::move(metric));
    out.push_back(std::move(family));
  }
  return out;
}

}  // namespace simcsepp::monitoring
