// metrics_log.h - the run's JSONL metrics log: one JSON object per line, flushed per line, so
// `tail -f` and crash post-mortems see every step. Appends (a resumed run continues the file;
// records carry the step, so a reader keeps the last record per step and kind).
// Written by rank 0 only (the caller decides); the training thread only.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace simcsepp::trainer {

class MetricsLog {
 public:
  // Throws simcsepp::Error if the file cannot be opened for appending.
  explicit MetricsLog(const std::string& path);
  // Adds "kind" and a unix "time" field to `record` and writes it as one line.
  void write(const std::string& kind, nlohmann::json record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace simcsepp::trainer
