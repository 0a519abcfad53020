// metrics_history.h - a run's metrics.jsonl read back as series a chart can draw.
//
// metrics.jsonl (trainer/metrics_log.h) holds one JSON object per line with a "kind": config
// (the options, first line of a fresh run), step, eval, ranks (every rank's step time and
// sentences/s at logging steps), checkpoint, preempted, failed, summary. A resumed run appends
// to the same file and re-logs the steps after its checkpoint: for step, eval and ranks lines the
// last line of a step wins (the initial eval, before training, is kept apart from the eval a
// resumed run may write at the same step).
//
// The trainer writes NaN and infinity as null (nlohmann::json's dump), and null also stands for
// optional values that were not measured (effective_rank off diagnostics steps, MFU on a CPU). A
// series is therefore read with the meaning of null for its field: kNonFinite keeps the step as
// a non-finite point (drawn as a mark, not a value), kNotMeasured leaves the step out.
//
// A line that is not a JSON object (a run killed mid-write leaves a partial last line) is skipped
// and named in `malformed` with its line number, so the report says so instead of failing.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace simcsepp::report {

struct Point {
  double x = 0;  // the step
  double y = 0;  // NaN: the run logged a non-finite value here
};

struct Series {
  std::string key;    // the field ("loss"), or "rank R" for per-rank values
  std::string label;  // what the legend says
  std::vector<Point> points;
  size_t finite_count() const;
};

enum class NullIs { kNonFinite, kNotMeasured };

struct MetricsHistory {
  std::string path;                            // the metrics.jsonl read
  std::optional<nlohmann::json> config;        // the first config line (the run's options)
  std::optional<nlohmann::json> summary;       // the last summary line
  std::optional<nlohmann::json> initial_eval;  // the dev score before training
  std::vector<nlohmann::json> steps;           // by step, last line of each step
  std::vector<nlohmann::json> evals;           // during training, by step, last line of each step
  std::vector<nlohmann::json> ranks;           // by step, last line of each step
  std::vector<nlohmann::json> events;          // checkpoint, preempted, failed lines, in file order
  std::vector<std::string> malformed;          // "metrics.jsonl:LINE: why" of each skipped line
  int64_t lines = 0;                           // non-empty lines read

  // records[i][field] as points (x = records[i]["step"]); records without the field are left out.
  static Series series(const std::vector<nlohmann::json>& records, const std::string& field, NullIs null_is,
                       const std::string& label = {});
  // One series per rank of an array field of the ranks lines ("step_s": [rank 0, rank 1, ...]).
  std::vector<Series> rank_series(const std::string& field) const;
  // Cumulative count of skipped updates at each step line.
  Series skipped_cumulative() const;
  // The dev scores: the initial one (step 0, if any) followed by those during training.
  std::vector<nlohmann::json> dev_evals() const;
};

// Reads `path`. Throws simcsepp::Error (naming the file, with a HINT) if it cannot be opened.
MetricsHistory read_metrics_history(const std::string& path);

// A number field of a JSON object: NaN when absent, null or not a number.
double number_or_nan(const nlohmann::json& object, const std::string& field);

}  // namespace simcsepp::report
