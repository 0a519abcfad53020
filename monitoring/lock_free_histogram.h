// lock_free_histogram.h - simcsepp's own histogram for the training thread: observe() is a few
// relaxed atomic adds, never a lock. prometheus-cpp's Histogram takes a mutex per Observe (and
// a scrape holds it while copying), so the step path keeps this one and the exposer publishes it
// at scrape time (prometheus_cpp/histogram_collectable.h).
//
// Buckets count observations non-cumulatively; snapshot() accumulates them and derives the count
// from the buckets, so the +Inf bucket always equals _count even while another thread observes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace simcsepp::monitoring {

class LockFreeHistogram {
 public:
  // Upper bounds ascending (strictly); +Inf is implied (an explicit one is dropped). Throws
  // simcsepp::Error on bounds that are not strictly increasing.
  explicit LockFreeHistogram(std::vector<double> upper_bounds);
  // le semantics: a value equal to a bound belongs to that bucket; NaN lands in +Inf.
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

// Bucket helpers (like Prometheus client libraries): start, start*factor, ... (count bounds).
std::vector<double> exponential_buckets(double start, double factor, int count);
std::vector<double> linear_buckets(double start, double width, int count);

}  // namespace simcsepp::monitoring
