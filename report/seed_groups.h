// seed_groups.h - runs that differ only in their seed, and the mean and standard deviation of
// their scores over the seeds.
//
// Two runs differ only in their seed when the options of their config lines (metrics.jsonl's
// first line: every `simcsepp train` option) are equal once `seed` and what names the directory
// are removed (`run_dir`, and `run`: the run id and directory checkpoints record), and their
// run.json agree on the corpus (corpus_sha256), the model shape and the global batch - the parts
// of run.json that do not depend on the seed (options_sha256 covers the seed; run_id and created
// differ for every run). The options hold --objective, so each group has one objective. A run
// without a config line cannot be compared and forms a group of its own.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "report/run_record.h"

namespace simcsepp::report {

// What must be equal for two runs to differ only in their seed (null without a config line).
nlohmann::json seed_free_config(const RunRecord& run);

struct SeedGroup {
  std::string objective;
  std::vector<size_t> runs;  // indices into the runs given, in their order
  nlohmann::json config;     // seed_free_config of its runs
};

// Groups in the order of their first run.
std::vector<SeedGroup> group_by_seed(const std::vector<RunRecord>& runs);

// Mean and standard deviation over the finite values: the sample standard deviation (divisor
// n - 1, numpy's std(ddof=1)); NaN mean for n = 0, NaN std for n < 2. n counts the finite values.
struct MeanStd {
  double mean = 0, std = 0;
  size_t n = 0;
};
MeanStd mean_std(const std::vector<double>& values);

// Keys of the top-level config whose values differ between a and b (sorted).
std::vector<std::string> differing_keys(const nlohmann::json& a, const nlohmann::json& b);

}  // namespace simcsepp::report
