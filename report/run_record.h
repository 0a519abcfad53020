// run_record.h - what a report knows of one run directory: its metrics.jsonl read back
// (metrics_history.h), summary.json and run.json, and the few facts pages compare runs by.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "report/metrics_history.h"

namespace simcsepp::report {

struct RunRecord {
  std::string dir;  // absolute and normalised, so `train` and `report` name it alike
  MetricsHistory history;
  std::optional<nlohmann::json> summary;   // summary.json, else the summary line of metrics.jsonl
  std::optional<nlohmann::json> identity;  // run.json
  std::vector<std::string> notes;          // files present but unreadable, said in the page

  // The run's options as recorded in its config line (null when the line is missing).
  nlohmann::json options() const;
  std::string objective() const;        // --objective, or "?"
  std::optional<int64_t> seed() const;  // --seed
  // Best STS-B dev score (x100) during training and its step: summary.json, else the best finite
  // eval line; NaN / -1 when there is none.
  double best_dev() const;
  int64_t best_step() const;
  // The last dev score during training (the final evaluation of a finished run); NaN if none.
  double final_dev() const;
  int64_t final_step() const;
};

// Reads RUN/metrics.jsonl, RUN/summary.json and RUN/run.json. Throws simcsepp::Error naming the
// directory, with a HINT, when it is not a directory or has no metrics.jsonl.
RunRecord load_run(const std::string& dir);

}  // namespace simcsepp::report
