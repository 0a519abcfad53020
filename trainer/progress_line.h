// progress_line.h - what a person watching `simcsepp train` sees: on a terminal one bar line
// rewritten in place; in a log file (Slurm) a plain line every --log-every steps.
#pragma once

#include <cstdint>
#include <string>

namespace simcsepp::trainer {

// H:MM:SS ("?" when unknown).
std::string format_duration(double seconds);

class ProgressLine {
 public:
  // enabled: this rank prints (rank 0).
  ProgressLine(int64_t total, int64_t log_every, bool enabled);
  void update(int64_t step, double loss, double sentences_per_s, double eta_s, double last_dev, bool skipped);
  // Ends the bar line before other log output.
  void break_line();

 private:
  int64_t total_, log_every_;
  bool enabled_, tty_;
};

}  // namespace simcsepp::trainer
