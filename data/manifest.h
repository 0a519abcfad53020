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
  // The input range the rows came from: from (first_input, first_offset) to (end_input,
  // end_offset), logical (decompressed) byte offsets; -1 when unknown (older manifests).
  int32_t first_input = -1, end_input = -1;
  int64_t first_offset = -1, end_offset = -1;
};

struct InputSummary {
  std::string path;
  int64_t lines = 0;         // physical lines read (CSV: data lines, header excluded)
  int64_t rows = 0;          // rows written
  int64_t empty = 0;         // skipped: empty / whitespace-only lines
  int64_t truncated = 0;     // rows whose token sequence was cut to max_len (any column)
  int64_t invalid_utf8 = 0;  // invalid UTF-8 sequences replaced
  int64_t duplicates = 0;    // skipped by --dedup: a normalised copy of an earlier row
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
  bool dedup = false;                // made with --dedup (exact duplicates removed)
  int64_t total_rows = 0;
  std::vector<ShardEntry> shards;
  std::vector<InputSummary> inputs;

  // Throws simcsepp::Error naming the file (and key) when missing or malformed.
  static Manifest load(const std::string& corpus_dir);
  // Atomic: writes manifest.json.tmp, then renames.
  void save(const std::string& corpus_dir) const;
  // The JSON text, and back (parse checks keys and types only; `where` names it in errors).
  std::string to_json() const;
  static Manifest parse(const std::string& text, const std::string& where);
};

// Writes path.tmp, then renames it to path (a reader never sees a partial file).
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace simcsepp::data
