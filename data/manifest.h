// manifest.h - the manifest.json of a prepared corpus directory (written by `simcsepp prep`).
//
// It lists the HDF5 shards in order (file, rows, first global row id, sha256) and the settings
// every shard was made with (schema version, vocabulary sha256, max_len, lowercase, columns), so
// a reader can refuse shards that do not belong together. The manifest is written last and
// atomically: a directory without one is an unfinished prep.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace simcsepp::data {

inline constexpr int kShardSchemaVersion = 1;
inline constexpr const char* kManifestFileName = "manifest.json";

struct ShardEntry {
  std::string file;  // relative to the corpus directory
  int64_t rows = 0;
  int64_t first_row = 0;  // global row id of the shard's first row
  std::string sha256;     // of the shard file's bytes
};

struct InputSummary {
  std::string path;
  int64_t lines = 0;         // physical lines read (CSV: data lines, header excluded)
  int64_t rows = 0;          // rows written
  int64_t empty = 0;         // skipped: empty / whitespace-only lines
  int64_t truncated = 0;     // rows whose token sequence was cut to max_len (any column)
  int64_t invalid_utf8 = 0;  // invalid UTF-8 sequences replaced
};

struct Manifest {
  int schema_version = kShardSchemaVersion;
  std::string vocab_sha256;
  int64_t vocab_size = 0;
  int max_len = 0;
  bool lowercase = true;
  std::vector<std::string> columns;  // {"text"} or {"sent0", "sent1"[, "hard_neg"]}
  std::string id_dtype;              // "uint16" or "int32"
  std::string fingerprint;           // sha256 of inputs + settings; equal => same shards
  int64_t total_rows = 0;
  std::vector<ShardEntry> shards;
  std::vector<InputSummary> inputs;

  // Throws simcsepp::Error naming the file (and key) when missing or malformed.
  static Manifest load(const std::string& corpus_dir);
  // Atomic: writes manifest.json.tmp, then renames.
  void save(const std::string& corpus_dir) const;
};

}  // namespace simcsepp::data
