// metrics_log.cpp - see metrics_log.h.
#include "trainer/metrics_log.h"

#include <chrono>

#include "base/error.h"

namespace simcsepp::trainer {

MetricsLog::MetricsLog(const std::string& path) : path_(path), out_(path, std::ios::app) {
  if (!out_) throw Error("cannot open the metrics log for appending", path, "is the run directory writable?");
}

void MetricsLog::write(const std::string& kind, nlohmann::json record) {
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  record["kind"] = kind;
  record["time"] = now;
  // dump() escapes non-ASCII and NaN becomes null: every line stays valid JSON.
  out_ << record.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) << '\n';
  out_.flush();
}

}  // namespace simcsepp::trainer
