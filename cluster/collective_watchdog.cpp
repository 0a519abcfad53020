// collective_watchdog.cpp - the polling thread and the in-flight clock.
#include "cluster/collective_watchdog.h"

#include <sstream>

namespace simcsepp::cluster {

CollectiveWatchdog::CollectiveWatchdog(std::chrono::milliseconds period, Check check, OnFailure on_failure)
    : period_(period), check_(std::move(check)), on_failure_(std::move(on_failure)) {
  thread_ = std::thread([this] { run(); });
}

CollectiveWatchdog::~CollectiveWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void CollectiveWatchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, period_, [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    std::string failure = check_();
    if (!failure.empty()) on_failure_(failure);  // aborts the job; does not come back
    lock.lock();
  }
}

void InFlightClock::begin(const char* op, long long bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  op_ = op;
  bytes_ = bytes;
  ++sequence_;
  start_ = std::chrono::steady_clock::now();
}

void InFlightClock::end() {
  std::lock_guard<std::mutex> lock(mutex_);
  op_ = nullptr;
}

std::string InFlightClock::overdue(double timeout_s) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!op_) return {};
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (waited < timeout_s) return {};
  std::ostringstream os;
  os << "collective " << op_ << " #" << sequence_ << " (" << bytes_ << " bytes) has not completed after " << waited
     << " s (timeout " << timeout_s
     << " s): another rank is dead, stuck or called a different collective. HINT: read the other "
        "ranks' logs for the first error; raise SIMCSEPP_COLLECTIVE_TIMEOUT_S only if steps "
        "legitimately take that long";
  return os.str();
}

}  // namespace simcsepp::cluster
