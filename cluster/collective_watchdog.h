// collective_watchdog.h - a background thread that turns a stuck or failed collective into a
// job abort with a clear message, so a dead rank never hangs the job silently.
//
// Every `period` the thread calls `check`; a non-empty result is the failure message and is
// passed to `on_failure` (which aborts: MPI_Abort, ncclCommAbort). The MPI communicator checks
// how long the collective in flight has been running (InFlightClock); the NCCL communicator
// polls ncclCommGetAsyncError and the completion events of its queued collectives.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace simcsepp::cluster {

class CollectiveWatchdog {
 public:
  using Check = std::function<std::string()>;
  using OnFailure = std::function<void(const std::string&)>;

  CollectiveWatchdog(std::chrono::milliseconds period, Check check, OnFailure on_failure);
  ~CollectiveWatchdog();  // stops and joins the thread
  CollectiveWatchdog(const CollectiveWatchdog&) = delete;
  CollectiveWatchdog& operator=(const CollectiveWatchdog&) = delete;

 private:
  void run();

  std::chrono::milliseconds period_;
  Check check_;
  OnFailure on_failure_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// The one blocking collective in flight (MPI calls are synchronous and come from one thread):
// the training thread marks begin/end, the watchdog thread asks how long it has been running.
class InFlightClock {
 public:
  void begin(const char* op, long long bytes);
  void end();
  // Empty when nothing exceeded `timeout_s`, else a message naming the call.
  std::string overdue(double timeout_s) const;

 private:
  mutable std::mutex mutex_;
  const char* op_ = nullptr;
  long long bytes_ = 0;
  long long sequence_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// RAII begin/end around one blocking call.
class InFlightScope {
 public:
  InFlightScope(InFlightClock& clock, const char* op, long long bytes) : clock_(clock) { clock_.begin(op, bytes); }
  ~InFlightScope() { clock_.end(); }
  InFlightScope(const InFlightScope&) = delete;
  InFlightScope& operator=(const InFlightScope&) = delete;

 private:
  InFlightClock& clock_;
};

}  // namespace simcsepp::cluster
