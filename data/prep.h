// prep.h - `simcsepp prep`: tokenize text / gzip / CSV inputs into HDF5 shards + manifest.json.
//
// Inputs are read in order; each non-empty record becomes one row ([CLS] ... [SEP] per column,
// truncated to max_len), tokenized on `threads` threads in chunks while order is preserved, so
// the output is identical for any thread count. Shards hold `shard_rows` rows each (the last
// one fewer); each is written atomically (temp file + rename) and the manifest is written last.
// Re-running with the same inputs and settings finds the manifest and does nothing; after an
// interruption it reuses every finished shard whose fingerprint matches and writes the rest. An
// output directory holding a *different* prepared corpus is refused unless `overwrite`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/manifest.h"

namespace simcsepp::data {

struct PrepOptions {
  std::vector<std::string> inputs;
  std::string output_dir;
  std::string vocab_path;
  bool lowercase = true;
  int max_len = 32;
  int64_t shard_rows = 100000;
  int threads = 2;
  bool overwrite = false;
  // Progress display: a bar with rate and ETA on a TTY, periodic log lines otherwise.
  bool progress = true;
  double progress_interval_s = 10.0;  // for the non-TTY lines
};

struct PrepResult {
  Manifest manifest;
  bool already_complete = false;  // the manifest matched: nothing was done
  int64_t shards_written = 0;
  int64_t shards_reused = 0;
  double seconds = 0;
};

PrepResult run_prep(const PrepOptions& options);

// Human-readable summary of all counts (printed by the CLI).
std::string format_prep_summary(const PrepResult& result);

}  // namespace simcsepp::data
