// preemption.cpp - see preemption.h. Async-signal-safe: the handler stores to a lock-free atomic.
#include "trainer/preemption.h"

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace simcsepp::trainer {

namespace {

std::atomic<int> g_signal{0};

extern "C" void on_preemption_signal(int sig) {
  // A second Ctrl-C means "now": the default action, no checkpoint (signal/raise are
  // async-signal-safe).
  if (sig == SIGINT && g_signal.load() == SIGINT) {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  g_signal.store(sig);
}

}  // namespace

void install_preemption_handlers() {
  struct sigaction action {};
  action.sa_handler = on_preemption_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);  // Ctrl-C: checkpoint at the next step boundary too
}

bool preemption_requested() { return g_signal.load() != 0; }
int preemption_signal() { return g_signal.load(); }

namespace fs = std::filesystem;

void write_preempted_marker(const std::string& run_dir, int64_t step, int signal) {
  const fs::path marker = fs::path(run_dir) / "preempted.json";
  const fs::path tmp = fs::path(run_dir) / "preempted.json.tmp";
  std::ofstream(tmp) << nlohmann::json{{"step", step}, {"signal", signal}}.dump() << "\n";
  fs::rename(tmp, marker);
}

}  // namespace simcsepp::trainer
