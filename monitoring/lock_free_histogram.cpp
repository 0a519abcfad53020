// lock_free_histogram.cpp - see lock_free_histogram.h.
#include "monitoring/lock_free_histogram.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace simcsepp::monitoring {

LockFreeHistogram::LockFreeHistogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
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

void LockFreeHistogram::observe(double value) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  const std::size_t index = std::isnan(value) ? bounds_.size() : std::size_t(it - bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

LockFreeHistogram::Snapshot LockFreeHistogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;  // from the buckets, so that it always equals the +Inf bucket
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

}  // namespace simcsepp::monitoring
