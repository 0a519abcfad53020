// shard_file.h - one HDF5 shard of a prepared corpus: schema, atomic writing, validated reading.
//
// Layout (schema version kShardSchemaVersion):
//   /<column>/ids       flat token ids of all rows, uint16 when the vocabulary fits, else int32
//   /<column>/offsets   int64[rows+1]: row r is ids[offsets[r], offsets[r+1])
//   /source_line        int64[rows]: 1-based line number of the row in its input file
//   /source_input       int32[rows]: index of that input in the manifest's input list
//   root attributes     schema_version, vocab_sha256, max_len, lowercase, columns (';'-joined),
//                       fingerprint, first_row, rows; prep_record (optional JSON string: the
//                       input byte range the rows came from and per-input prep counts, so a
//                       resumed prep can reuse the shard without reading its input again)
// Ragged rows stored flat keep a 32-token-max corpus at ~2 bytes per token.
//
// Concurrency: every HDF5 call in this file holds one process-wide mutex (the Debian HDF5 build
// is not thread-safe), so writers and the reader's prefetch thread may use it from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace simcsepp::data {

struct ShardColumn {
  std::vector<int32_t> ids;
  std::vector<int64_t> offsets{0};
  std::span<const int32_t> row(int64_t r) const {
    return {ids.data() + offsets[static_cast<size_t>(r)],
            static_cast<size_t>(offsets[static_cast<size_t>(r) + 1] - offsets[static_cast<size_t>(r)])};
  }
};

struct ShardData {
  std::vector<ShardColumn> columns;
  std::vector<int64_t> source_line;
  std::vector<int32_t> source_input;
  int64_t rows() const { return static_cast<int64_t>(source_line.size()); }
};

struct ShardAttributes {
  int schema_version = 0;
  std::string vocab_sha256;
  int max_len = 0;
  bool lowercase = true;
  std::vector<std::string> columns;
  std::string fingerprint;
  int64_t first_row = 0;
  int64_t rows = 0;
  std::string prep_record;  // empty: not written / absent
};

// Writes `path` atomically (path + ".tmp", then rename): a crash never leaves a complete-looking
// shard. uint16_ids stores ids as uint16 (caller guarantees they fit).
void write_shard(const std::string& path, const ShardData& data, const ShardAttributes& attrs, bool uint16_ids);

// Rows [begin, end) of every column of a shard, offsets rebased to start at 0.
struct ShardRows {
  int64_t begin = 0;  // first row of the range within the shard
  std::vector<ShardColumn> columns;
  int64_t rows() const { return columns.empty() ? 0 : static_cast<int64_t>(columns[0].offsets.size()) - 1; }
};

// Throws simcsepp::Error naming the shard when it is missing, truncated, corrupt or incomplete.
ShardAttributes read_shard_attributes(const std::string& path);
ShardData read_shard(const std::string& path, ShardAttributes* attrs_out = nullptr);
// The whole shard parsed from its file bytes in memory (`path` only names it in errors): a
// reader that reads a file once can hash and parse the same bytes.
ShardData read_shard_image(const std::string& path, const std::vector<char>& bytes,
                           ShardAttributes* attrs_out = nullptr);
// Only rows [begin, end): HDF5 reads the metadata and hyperslabs of each column's offsets and
// ids, not the whole file (source_line/source_input are not read). Validated like read_shard.
ShardRows read_shard_rows(const std::string& path, int64_t begin, int64_t end, ShardAttributes* attrs_out = nullptr);

}  // namespace simcsepp::data
