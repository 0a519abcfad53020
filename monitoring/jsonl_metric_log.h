// jsonl_metric_log.h - the metric log of a run: one JSON object per line, appended to a file.
//
// Prometheus keeps what it scraped; this file keeps every step, so a run can be plotted or
// compared offline (pandas.read_json(path, lines=True)) even with no Prometheus around, or when
// the build has no HTTP server. Lines look like
//   {"kind":"step","time":1764187200.5,"rank":0,"step":100,"loss":2.31,"lr":3e-05,...}
//   {"kind":"eval","time":...,"rank":0,"step":250,"spearman":0.81,"alignment":0.2,...}
//   {"kind":"checkpoint","time":...,"rank":0,"seconds":1.5}
// Non-finite numbers are written as null (JSON has no NaN); unmeasured optional fields are
// omitted. A resumed run appends to the same file. Lines are buffered and flushed at least every
// 5 s and after every eval/checkpoint line, so a crash loses at most a few seconds of steps.
//
// Thread-safe (one mutex around each line); used by TrainingMetrics when
// MetricsOptions::jsonl_path is set.
#pragma once

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

#include "monitoring/training_metrics.h"

namespace simcsepp::monitoring {

class JsonlMetricLog {
 public:
  // Opens `path` for appending; throws simcsepp::Error naming the path if it cannot.
  JsonlMetricLog(const std::string& path, int rank);
  ~JsonlMetricLog();
  JsonlMetricLog(const JsonlMetricLog&) = delete;
  JsonlMetricLog& operator=(const JsonlMetricLog&) = delete;

  void write_step(const StepRecord& record);
  void write_eval(const EvalRecord& record);
  void write_checkpoint(double seconds);
  void flush();

  const std::string& path() const { return path_; }

 private:
  void write_line(const std::string& line, bool flush_now);

  std::string path_;
  int rank_;
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
  std::chrono::steady_clock::time_point last_flush_;
};

}  // namespace simcsepp::monitoring
