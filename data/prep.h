// prep.h - `simcsepp prep`: tokenize text / gzip / zstd / CSV inputs into HDF5 shards + manifest.json,
// in one process, in K processes of one job (PrepPeers), or as K independent parts plus a merge.
//
// The rows and shards are fixed by the plan (data/prep_plan.h) before tokenization, so the
// output is identical - same rows, ids, order, shard files and checksums - for any number of
// processes, parts, threads and any block size. Each shard is written atomically (temp file +
// rename) and the manifest last. Re-running with the same inputs and settings finds the manifest
// and does nothing; after an interruption (even SIGKILL) every finished shard whose fingerprint
// matches is reused without reading or tokenizing its input again, and only the rest is written.
// An output directory holding a *different* prepared corpus is refused unless `overwrite`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/manifest.h"
#include "data/prep_peers.h"

namespace simcsepp::data {

struct PrepOptions {
  std::vector<std::string> inputs;  // files, globs, directories (data/input_files.h)
  std::string output_dir;
  std::string vocab_path;
  bool lowercase = true;
  int max_len = 32;
  int64_t shard_rows = 100000;
  int threads = 2;
  bool overwrite = false;
  bool dedup = false;                // drop later copies of a normalised record (data/dedup_key.h)
  int64_t block_bytes = 64 << 20;    // scan/split granularity of plain inputs; never changes the output
  int part = 0, parts = 1;           // --part i/K: write part i's shards and a part file, no manifest
  bool part_mode = false;
  // Progress display: a bar with rate and ETA on a TTY, periodic log lines otherwise.
  bool progress = true;
  double progress_interval_s = 10.0;  // for the non-TTY lines
};

struct PrepResult {
  Manifest manifest;                // complete unless part_mode (then: this part's shards only)
  bool already_complete = false;    // the manifest (or this part's file) matched: nothing was done
  int64_t shards_written = 0;
  int64_t shards_reused = 0;        // finished shards found and kept, not tokenized again
  int64_t rows_tokenized = 0;
  int64_t duplicates = 0;
  int part = 0, parts = 1;
  bool part_mode = false;
  double seconds = 0;
};

// Collective over `peers` when peers.world > 1 (every process calls it; rank 0 writes the manifest).
PrepResult run_prep(const PrepOptions& options, const PrepPeers& peers = {});

// `simcsepp prep --merge`: the part files of `output_dir` -> manifest.json. Throws simcsepp::Error
// naming the missing or mismatched parts.
PrepResult merge_prep_parts(const std::string& output_dir);

// The part file of part `part` of `parts` (in the output directory).
std::string part_file_name(int part, int parts);

// Human-readable summary of all counts (printed by the CLI).
std::string format_prep_summary(const PrepResult& result);

}  // namespace simcsepp::data
