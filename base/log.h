// log.h - the one logger: "[time rank/world host] LEVEL message" lines on stderr.
//
// Thread-safe (one mutex around each line). Rank 0 logs INFO by default; other ranks log WARN
// and above unless SIMCSEPP_LOG_ALL_RANKS=1, so a 64-rank job stays readable.
#pragma once

#include <sstream>
#include <string>

namespace simcsepp::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Set once at start-up by the cluster bootstrap (before that: rank 0 of 1, local host name).
void set_identity(int rank, int world_size, const std::string& host);
int rank();
int world_size();
const std::string& host();
// "rank R/W on HOST" - the prefix errors carry.
std::string where_am_i();

void set_level(Level level);
bool enabled(Level level);
void write(Level level, const std::string& message);

}  // namespace simcsepp::log

#define SIMCSEPP_LOG(level, expr)                            \
  do {                                                       \
    if (::simcsepp::log::enabled(level)) {                   \
      std::ostringstream simcsepp_log_os_;                   \
      simcsepp_log_os_ << expr;                              \
      ::simcsepp::log::write(level, simcsepp_log_os_.str()); \
    }                                                        \
  } while (0)
#define LOG_DEBUG(expr) SIMCSEPP_LOG(::simcsepp::log::Level::kDebug, expr)
#define LOG_INFO(expr) SIMCSEPP_LOG(::simcsepp::log::Level::kInfo, expr)
#define LOG_WARN(expr) SIMCSEPP_LOG(::simcsepp::log::Level::kWarn, expr)
#define LOG_ERROR(expr) SIMCSEPP_LOG(::simcsepp::log::Level::kError, expr)
