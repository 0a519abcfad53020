// metric_registry.h - a small Prometheus-style metric registry: families of counters, gauges and
// histograms, each family keyed by label values (in the spirit of prometheus-cpp).
//
// Concurrency contract:
//  - Creating a family or a labelled child takes the registry mutex (done once, at set-up).
//  - Counter/Gauge/Histogram updates are lock-free atomics, so the training thread never waits
//    for a scrape; references returned by add()/child() stay valid for the registry's lifetime.
//  - collect() (the scrape) takes the registry mutex only to walk the families; it reads values
//    atomically, so it may see a step half-applied across *different* metrics but never a torn
//    value, and a histogram's +Inf bucket always equals its _count.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace simcsepp::monitoring {

enum class MetricType { kCounter, kGauge, kHistogram };

// A monotonically increasing value (Prometheus counter; names end in _total).
class Counter {
 public:
  void increment(double amount = 1.0);  // negative amounts are ignored (counters never go down)
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down (last loss, learning rate, queue depth...).
class Gauge {
 public:
  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  void add(double amount);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A histogram with fixed upper bounds (ascending, +Inf implied). Buckets count observations
// non-cumulatively; the exposition accumulates them, so the +Inf bucket and _count agree.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;       // without +Inf
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0.0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& upper_bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1 (+Inf)
  std::atomic<double> sum_{0.0};
};

// Bucket helpers (like prometheus client libraries): start, start*factor, ... (count bounds).
std::vector<double> exponential_buckets(double start, double factor, int count);
std::vector<double> linear_buckets(double start, double width, int count);

// One sample line of the exposition, as collected from the registry.
struct Sample {
  std::string suffix;                                       // "", "_bucket", "_sum", "_count"
  std::vector<std::pair<std::string, std::string>> labels;  // in exposition order
  double value = 0.0;
};
struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<Sample> samples;
};

// Type-erased part of a family (what Registry::collect() walks).
class FamilyBase {
 public:
  FamilyBase(std::mutex& registry_mutex, std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  // Appends this family's samples (caller holds the registry mutex).
  virtual void collect_locked(const std::map<std::string, std::string>& const_labels, FamilySnapshot& out) const = 0;

 protected:
  void check_label_values(const std::vector<std::string>& values) const;
  std::vector<std::pair<std::string, std::string>> labels_of(const std::map<std::string, std::string>& const_labels,
                                                             const std::vector<std::string>& values) const;

  std::mutex& mutex_;
  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
};

// A metric family: one name, one help text, one type, fixed label names; children per label
// values. T is Counter, Gauge or Histogram.
template <typename T>
class Family final : public FamilyBase {
 public:
  Family(std::mutex& registry_mutex, std::string name, std::string help, MetricType type,
         std::vector<std::string> label_names, std::vector<double> upper_bounds = {})
      : FamilyBase(registry_mutex, std::move(name), std::move(help), type, std::move(label_names)),
        upper_bounds_(std::move(upper_bounds)) {}

  // The child for these label values (one per label name), created on first use. Cache the
  // reference: this takes the registry mutex, the child's updates do not.
  T& child(const std::vector<std::string>& label_values = {});

  void collect_locked(const std::map<std::string, std::string>& const_labels, FamilySnapshot& out) const override;

 private:
  std::vector<double> upper_bounds_;  // histograms only
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

// The families of one process (one rank), in registration order.
class Registry {
 public:
  // `const_labels` (e.g. rank, host, run_id) are attached to every sample, first in order.
  explicit Registry(std::map<std::string, std::string> const_labels = {});
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family; throws simcsepp::Error on an invalid or duplicate name/label name.
  Family<Counter>& counter(const std::string& name, const std::string& help, std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help, std::vector<std::string> label_names = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help, std::vector<double> upper_bounds,
                               std::vector<std::string> label_names = {});

  // Snapshot of every family in registration order, children in label-value order.
  std::vector<FamilySnapshot> collect() const;

  const std::map<std::string, std::string>& const_labels() const { return const_labels_; }

 private:
  FamilyBase& register_family(std::unique_ptr<FamilyBase> family);

  std::map<std::string, std::string> const_labels_;
  mutable std::mutex mutex_;  // guards families_ and every family's children map
  std::vector<std::unique_ptr<FamilyBase>> families_;
};

// Metric and label names as Prometheus defines them (text format 0.0.4).
bool is_valid_metric_name(const std::string& name);
bool is_valid_label_name(const std::string& name);

}  // namespace simcsepp::monitoring
