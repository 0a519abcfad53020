// histogram_collectable.cpp - see histogram_collectable.h.
#include "monitoring/prometheus_cpp/histogram_collectable.h"

#include <prometheus/check_names.h>

#include <limits>

#include "cluster/base/error.h"

namespace simcsepp::monitoring {

HistogramCollectable::HistogramCollectable(prometheus::Labels constant_labels) {
  for (const auto& [name, value] : constant_labels) {
    if (!prometheus::CheckLabelName(name)) {
      throw Error("invalid constant label name '" + name + "'", name,
                  "use [a-zA-Z_][a-zA-Z0-9_]*, not starting with __");
    }
    constant_labels_.push_back({name, value});
  }
}

LockFreeHistogram& HistogramCollectable::add(const std::string& name, const std::string& help,
                                              std::vector<double> upper_bounds) {
  if (!prometheus::CheckMetricName(name)) {
    throw Error("invalid metric name '" + name + "'", name, "use [a-zA-Z_:][a-zA-Z0-9_:]* (Prometheus naming)");
  }
  auto histogram = std::make_unique<LockFreeHistogram>(std::move(upper_bounds));
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& e : entries_) {
    if (e.name == name) {
      throw Error("histogram '" + name + "' registered twice", name, "register each family once and keep the reference");
    }
  }
  entries_.push_back(Entry{name, help, std::move(histogram)});
  return *entries_.back().histogram;
}

std::vector<prometheus::MetricFamily> HistogramCollectable::Collect() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<prometheus::MetricFamily> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) {
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
