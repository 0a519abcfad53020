// sts_report.h - results of an STS evaluation run, as a terminal table and as JSON.
//
// A task whose files are absent is kept in the result with its reason and printed as "missing",
// never as a number. The average is the plain mean of the seven headline numbers and is given
// only when all seven exist; otherwise the mean of the available ones is reported under another
// name, so a partial average is never mistaken for the paper's.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace simcsepp::evaluation {

struct StsPartResult {
  std::string name;     // subset (MSRpar ...) or split (train, dev, trial, test)
  bool scored = false;  // false: missing (files absent) or skipped (e.g. train not requested)
  std::string note;     // why not scored
  double spearman_x100 = 0;
  int64_t pairs = 0;
};

struct StsTaskResult {
  std::string name;        // STS12 ... STSBenchmark, SICKRelatedness
  std::string short_name;  // STS12 ... STS-B, SICK-R
  std::string primary;     // "all" or "test"
  bool scored = false;
  std::string missing;  // why the headline number is absent
  double spearman_x100 = 0;
  int64_t pairs = 0;
  std::vector<StsPartResult> parts;
};

struct StsSuiteResult {
  std::vector<StsTaskResult> tasks;
  // Plain mean of the headline numbers of the scored tasks, and how many there were.
  double mean_of_scored() const;
  int scored_tasks() const;
  // True when all seven SentEval STS tasks were requested and scored: mean_of_scored() is then
  // the paper's "Avg." column.
  bool complete() const;
};

// Fixed-width table: one row per task (headline number), indented rows per subset/split.
std::string format_sts_table(const StsSuiteResult& result);

// {"tasks": {name: {...}}, "average": x|null, "average_of_scored": x, "scored_tasks": n,
//  "missing_tasks": [...], "settings": settings}
nlohmann::json sts_result_to_json(const StsSuiteResult& result, const nlohmann::json& settings);

}  // namespace simcsepp::evaluation
