// progress_line.cpp - see progress_line.h.
#include "trainer/progress_line.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "base/log.h"

namespace simcsepp::trainer {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

ProgressLine::ProgressLine(int64_t total, int64_t log_every, bool enabled)
    : total_(total), log_every_(log_every), enabled_(enabled), tty_(enabled && ::isatty(STDERR_FILENO)) {}

void ProgressLine::update(int64_t step, double loss, double sentences_per_s, double eta_s, double last_dev, bool skipped) {
  if (!enabled_) return;
  std::ostringstream os;
  char lossbuf[32];
  std::snprintf(lossbuf, sizeof(lossbuf), "%.4f", loss);
  os << "step " << step << "/" << total_ << " loss " << lossbuf << (skipped ? " (skipped)" : "") << " | "
     << static_cast<int64_t>(sentences_per_s) << " sent/s | ETA " << format_duration(eta_s);
  if (std::isfinite(last_dev)) {
    char devbuf[32];
    std::snprintf(devbuf, sizeof(devbuf), "%.2f", last_dev);
    os << " | dev " << devbuf;
  }
  if (tty_) {
    const int width = 24;
    const int filled = static_cast<int>(width * step / std::max<int64_t>(1, total_));
    std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << os.str() << "\033[K"
              << std::flush;
  } else if (step % log_every_ == 0 || step == total_) {
    LOG_INFO(os.str());
  }
}

void ProgressLine::break_line() {
  if (tty_) std::cerr << "\n";
}

}  // namespace simcsepp::trainer
