// test_hooks.cpp - see test_hooks.h.
#include "trainer/test_hooks.h"

#include "trainer/preemption.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace simcsepp::trainer {

namespace fs = std::filesystem;

// Test hook (see docs/training.md): SIGKILL this process right after update S, to test resume;
// with SIMCSEPP_TEST_KILL_RANK=R only rank R does (a lost rank, to test the launcher's grace kill).
int64_t kill_after_step_for_tests(int rank) {
  const char* v = std::getenv("SIMCSEPP_TEST_KILL_AFTER_STEP");
  const char* only = std::getenv("SIMCSEPP_TEST_KILL_RANK");
  if (only && *only && std::atoi(only) != rank) return -1;
  return v ? std::atoll(v) : -1;
}

// Test hook (see docs/training.md): with SIMCSEPP_TEST_HOLD_FILE=PATH, right after update S
// (its metrics recorded, /metrics still served) wait while the file PATH.S exists, so a test
// observes the live run for as long as it needs instead of counting on the run's speed; with
// SIMCSEPP_TEST_HOLD_RANK=R only rank R waits (a rank still busy while the others are done).
// PATH.end holds after the run's last barrier, where the other ranks go on to MPI_Finalize.
// SIMCSEPP_TEST_HOLD_UNTIL_SIGNAL=1: a preemption signal arriving at this rank ends its hold too,
// so a test signals a held run and the signal is seen before the run could have finished.
void hold_for_tests(const std::string& point, int rank) {
  const char* v = std::getenv("SIMCSEPP_TEST_HOLD_FILE");
  const char* only = std::getenv("SIMCSEPP_TEST_HOLD_RANK");
  if (!v || !*v || (only && *only && std::atoi(only) != rank)) return;
  const char* until_signal = std::getenv("SIMCSEPP_TEST_HOLD_UNTIL_SIGNAL");
  const bool signal_ends = until_signal && std::string(until_signal) == "1";
  const fs::path hold = std::string(v) + "." + point;
  while (fs::exists(hold) && !(signal_ends && preemption_requested())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Test hook (see docs/training.md): with SIMCSEPP_TEST_BATCH_ROWS=PATH each rank appends one line
// per micro-batch to PATH.<rank>: "update micro epoch step_in_epoch row..." (corpus row ids), so
// a test can compare the global batches of a resharded run with the uninterrupted one's.
std::optional<std::ofstream> batch_rows_log_for_tests(int rank) {
  const char* v = std::getenv("SIMCSEPP_TEST_BATCH_ROWS");
  if (!v || !*v) return std::nullopt;
  return std::ofstream(std::string(v) + "." + std::to_string(rank), std::ios::app);
}

bool hold_requested_for_tests(const std::string& point, int rank) {
  const char* v = std::getenv("SIMCSEPP_TEST_HOLD_FILE");
  const char* only = std::getenv("SIMCSEPP_TEST_HOLD_RANK");
  if (!v || !*v || (only && *only && std::atoi(only) != rank)) return false;
  return fs::exists(std::string(v) + "." + point);
}

}  // namespace simcsepp::trainer
