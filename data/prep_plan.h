// prep_plan.h - where every row of a prep comes from and which shard it goes to, decided before
// any tokenization, identically in every process and for any number of processes.
//
// 1. Blocks: a plain-text input is cut into blocks of `block_bytes` (each begins at the first
//    line start at or after j * block_bytes); a compressed (gzip, zstd) or CSV input is one block
//    (it cannot be entered in the middle: compressed streams are sequential, CSV records may
//    span lines). Blocks are scanned in parallel (threads x processes): lines, empty records,
//    non-empty records and, with dedup, each non-empty record's key.
// 2. Dedup (optional): keys go to the process that owns them (key mod world), which marks every
//    record but the first of its key (lowest position in input order); the marks are shared.
// 3. Rows: non-empty, non-duplicate records in input order; global row g is in shard
//    g / shard_rows. So shard k is rows [k*R, (k+1)*R): the same for any process count, thread
//    count or block size, and equal to what a single process writes.
// 4. Writers: part p of P writes the contiguous shards [S*p/P, S*(p+1)/P) in one pass.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/byte_stream.h"
#include "data/dedup_key.h"
#include "data/prep_peers.h"
#include "data/text_source.h"

namespace simcsepp::data {

struct PrepInput {
  std::string path;
  Compression compression = Compression::kNone;
  InputFormat format = InputFormat::kText;
  int64_t size = 0;  // bytes on disk
  bool splittable() const { return compression == Compression::kNone && format == InputFormat::kText; }
};

// A record counts as empty when any of its fields is blank (whitespace only).
bool record_is_empty(const std::vector<std::string>& fields);

struct BlockScan {
  int32_t input = 0;
  int64_t begin = 0, end = 0;  // logical byte range (compressed: 0 .. decompressed size)
  int64_t lines = 0;           // physical lines (CSV: after the header)
  int64_t empty = 0;
  int64_t records = 0;         // non-empty records
  std::vector<DedupKey> keys;  // with dedup: one per non-empty record, in order (local only)
};

struct PlannedBlock {
  BlockScan scan;
  int64_t lines_before = 0;    // lines of the same input before this block
  int64_t first_ordinal = 0;   // global position of its first non-empty record
  int64_t first_row = 0;       // global row id of its first kept row
  int64_t rows = 0;            // kept rows (records minus duplicates)
  size_t dup_begin = 0, dup_end = 0;  // its duplicates: PrepPlan::duplicates[dup_begin, dup_end)
};

struct PrepPlan {
  std::vector<PrepInput> inputs;
  std::vector<PlannedBlock> blocks;
  std::vector<int64_t> duplicates;  // ordinals of the skipped duplicates, ascending
  int64_t total_rows = 0;
  int64_t shard_rows = 0;
  int64_t shards() const { return (total_rows + shard_rows - 1) / shard_rows; }
  // The contiguous shards [first, end) that part `part` of `parts` writes.
  std::pair<int64_t, int64_t> shards_of_part(int part, int parts) const;
};

struct PlanOptions {
  int64_t block_bytes = 64 << 20;
  int64_t shard_rows = 100000;
  bool dedup = false;
  bool lowercase = true;
  int threads = 1;
};

// Steps 1-3 above, collectively over `peers` (each scans its share of the blocks). Errors of any
// process (bad input) are rethrown on every process.
PrepPlan make_prep_plan(const std::vector<PrepInput>& inputs, const PlanOptions& options, const PrepPeers& peers);

// Runs `work` on this process; if it or any other process threw simcsepp::Error, every process
// throws the first one (by rank). Returns every process's payload, in rank order.
std::vector<std::string> gather_or_throw(const PrepPeers& peers, const std::function<std::string()>& work);

}  // namespace simcsepp::data
