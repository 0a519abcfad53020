#include "base/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace simcsepp::log {

namespace {
std::mutex g_mutex;
int g_rank = 0;
int g_world = 1;
Level g_level = Level::kInfo;
std::string& host_storage() {
  static std::string h = [] {
    char buf[256] = {0};
    gethostname(buf, sizeof(buf) - 1);
    return std::string(buf);
  }();
  return h;
}
bool all_ranks() {
  const char* v = std::getenv("SIMCSEPP_LOG_ALL_RANKS");
  return v && std::string(v) == "1";
}
const char* name(Level l) {
  switch (l) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO";
    case Level::kWarn:
      return "WARN";
    case Level::kError:
      return "ERROR";
  }
  return "?";
}
}  // namespace

void set_identity(int rank, int world_size, const std::string& host) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_rank = rank;
  g_world = world_size;
  if (!host.empty()) host_storage() = host;
}
int rank() { return g_rank; }
int world_size() { return g_world; }
const std::string& host() { return host_storage(); }
std::string where_am_i() {
  return "rank " + std::to_string(g_rank) + "/" + std::to_string(g_world) + " on " + host_storage();
}

void set_level(Level level) { g_level = level; }

bool enabled(Level level) {
  if (level < g_level) return false;
  if (g_rank != 0 && level < Level::kWarn && !all_ranks()) return false;
  return true;
}

void write(Level level, const std::string& message) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fprintf(stderr, "[%s %d/%d %s] %s %s\n", ts, g_rank, g_world, host_storage().c_str(), name(level),
               message.c_str());
  std::fflush(stderr);
}

}  // namespace simcsepp::log
