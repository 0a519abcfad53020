// metric_registry.cpp - counters, gauges, histograms and the registry that owns their families.
#include "monitoring/metric_registry.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "cluster/base/error.h"
#include "monitoring/text_exposition.h"

namespace simcsepp::monitoring {

// ---------------------------------------------------------------------------------------------
// Values

void Counter::increment(double amount) {
  // NaN and negative increments would make the counter decrease or poison it forever.
  if (!(amount > 0.0)) return;
  value_.fetch_add(amount, std::memory_order_relaxed);
}

void Gauge::add(double amount) { value_.fetch_add(amount, std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  for (std::size_t i = 1; i < bounds_.size(); ++i) {
    if (!(bounds_[i - 1] < bounds_[i])) {
      throw Error("histogram bucket bounds must be strictly increasing", "bucket " + std::to_string(i),
                  "build bounds with exponential_buckets() or linear_buckets()");
    }
  }
  // +Inf is implied; drop an explicit one so the exposition does not repeat it.
  if (!bounds_.empty() && std::isinf(bounds_.back()) && bounds_.back() > 0) bounds_.pop_back();
  buckets_ = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double value) {
  // le semantics: a value equal to a bound belongs to that bucket. NaN lands in +Inf.
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  const std::size_t index = std::isnan(value) ? bounds_.size() : std::size_t(it - bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  // _count is derived from the buckets so that it always equals the +Inf bucket.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  if (!(start > 0) || !(factor > 1) || count < 1) {
    throw Error("exponential_buckets needs start > 0, factor > 1, count >= 1", "",
                "e.g. exponential_buckets(0.001, 2, 16)");
  }
  std::vector<double> b(count);
  for (int i = 0; i < count; ++i) b[i] = start * std::pow(factor, i);
  return b;
}

std::vector<double> linear_buckets(double start, double width, int count) {
  if (!(width > 0) || count < 1) {
    throw Error("linear_buckets needs width > 0, count >= 1", "", "e.g. linear_buckets(0, 0.5, 10)");
  }
  std::vector<double> b(count);
  for (int i = 0; i < count; ++i) b[i] = start + width * i;
  return b;
}

// ---------------------------------------------------------------------------------------------
// Names

bool is_valid_metric_name(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool is_valid_label_name(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;  // "__" is reserved by Prometheus
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Families

FamilyBase::FamilyBase(std::mutex& registry_mutex, std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names)
    : mutex_(registry_mutex),
      name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {
  if (!is_valid_metric_name(name_)) {
    throw Error("invalid metric name '" + name_ + "'", name_, "use [a-zA-Z_:][a-zA-Z0-9_:]* (Prometheus naming)");
  }
  std::set<std::string> seen;
  for (const auto& l : label_names_) {
    if (!is_valid_label_name(l) || (type_ == MetricType::kHistogram && l == "le")) {
      throw Error("invalid label name '" + l + "'", name_,
                  "use [a-zA-Z_][a-zA-Z0-9_]*, not starting with __ ('le' is reserved for histograms)");
    }
    if (!seen.insert(l).second) throw Error("duplicate label name '" + l + "'", name_, "list each label once");
  }
}

void FamilyBase::check_label_values(const std::vector<std::string>& values) const {
  if (values.size() != label_names_.size()) {
    throw Error("metric '" + name_ + "' takes " + std::to_string(label_names_.size()) + " label values, got " +
                    std::to_string(values.size()),
                name_, "pass one value per label name, in the order the family was declared");
  }
}

std::vector<std::pair<std::string, std::string>> FamilyBase::labels_of(
    const std::map<std::string, std::string>& const_labels, const std::vector<std::string>& values) const {
  std::vector<std::pair<std::string, std::string>> labels(const_labels.begin(), const_labels.end());
  for (std::size_t i = 0; i < values.size(); ++i) labels.emplace_back(label_names_[i], values[i]);
  return labels;
}

template <typename T>
T& Family<T>::child(const std::vector<std::string>& label_values) {
  check_label_values(label_values);
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = children_[label_values];
  if (!slot) {
    if constexpr (std::is_same_v<T, Histogram>) {
      slot = std::make_unique<Histogram>(upper_bounds_);
    } else {
      slot = std::make_unique<T>();
    }
  }
  return *slot;
}

template <typename T>
void Family<T>::collect_locked(const std::map<std::string, std::string>& const_labels, FamilySnapshot& out) const {
  for (const auto& [values, metric] : children_) {
    auto labels = labels_of(const_labels, values);
    if constexpr (std::is_same_v<T, Histogram>) {
      const auto snap = metric->snapshot();
      for (std::size_t i = 0; i <= snap.upper_bounds.size(); ++i) {
        auto bucket_labels = labels;
        bucket_labels.emplace_back("le", i < snap.upper_bounds.size() ? format_value(snap.upper_bounds[i]) : "+Inf");
        out.samples.push_back(Sample{"_bucket", std::move(bucket_labels), double(snap.cumulative[i])});
      }
      out.samples.push_back(Sample{"_sum", labels, snap.sum});
      out.samples.push_back(Sample{"_count", std::move(labels), double(snap.count)});
    } else {
      out.samples.push_back(Sample{"", std::move(labels), metric->value()});
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---------------------------------------------------------------------------------------------
// Registry

Registry::Registry(std::map<std::string, std::string> const_labels) : const_labels_(std::move(const_labels)) {
  for (const auto& [name, value] : const_labels_) {
    if (!is_valid_label_name(name)) {
      throw Error("invalid constant label name '" + name + "'", name,
                  "use [a-zA-Z_][a-zA-Z0-9_]*, not starting with __");
    }
  }
}

Registry::~Registry() = default;

FamilyBase& Registry::register_family(std::unique_ptr<FamilyBase> family) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& f : families_) {
    if (f->name() == family->name()) {
      throw Error("metric '" + family->name() + "' registered twice", family->name(),
                  "register each family once and keep the reference");
    }
  }
  families_.push_back(std::move(family));
  return *families_.back();
}

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> label_names) {
  return static_cast<Family<Counter>&>(register_family(
      std::make_unique<Family<Counter>>(mutex_, name, help, MetricType::kCounter, std::move(label_names))));
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help, std::vector<std::string> label_names) {
  return static_cast<Family<Gauge>&>(
      register_family(std::make_unique<Family<Gauge>>(mutex_, name, help, MetricType::kGauge, std::move(label_names))));
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       std::vector<double> upper_bounds, std::vector<std::string> label_names) {
  Histogram validate(upper_bounds);  // throws on bad bounds now, not at first child()
  return static_cast<Family<Histogram>&>(register_family(std::make_unique<Family<Histogram>>(
      mutex_, name, help, MetricType::kHistogram, std::move(label_names), validate.upper_bounds())));
}

std::vector<FamilySnapshot> Registry::collect() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<FamilySnapshot> out;
  out.reserve(families_.size());
  for (const auto& f : families_) {
    FamilySnapshot snap;
    snap.name = f->name();
    snap.help = f->help();
    snap.type = f->type();
    f->collect_locked(const_labels_, snap);
    out.push_back(std::move(snap));
  }
  return out;
}

}  // namespace simcsepp::monitoring
