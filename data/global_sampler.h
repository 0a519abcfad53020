// global_sampler.h - the deterministic global order of a sharded corpus, split across ranks so
// that each rank reads only its own shards.
//
// Epoch e's order is a pure function of (seed, e, shard row counts, window_shards, world size,
// local batch): the shards are permuted and grouped into windows of consecutive shards, as many as
// windows of window_shards x world_size need, of equal sizes in whole groups of world_size shards
// (window_sizes(); the last also takes the shards % world_size left over), so the epoch's last
// window is not a small remainder. A window's rows (its shards concatenated in permuted order) are
// cut into world_size contiguous parts of equal size (+-1 row, the extra rows going round-robin so
// every rank's epoch total is floor or ceil of rows / world_size), and rank r gets part r: about
// window_shards whole shards, and a row range of at most two shards that straddle a cut. Each rank
// shuffles the rows of its part (its own Fisher-Yates) and its epoch stream is its parts in window
// order; at step s it takes stream positions [s*L, (s+1)*L). So a rank reads only its parts (each
// row of the corpus is read by one rank per epoch), its local batch mixes the ~window_shards shards
// of its part, and a global batch mixes the ~window_shards x world_size shards of a window. With
// equal shards (prep writes shard_rows each, the last fewer) the cuts fall on shard boundaries
// except in the window holding the short shard and in the last window (which takes the leftover
// shards): at most 2 x (world_size - 1) shards per epoch are split. With drop_tail the epoch has
// floor(rows / G) steps (G = world_size x L) and each rank drops the last < L rows of its stream
// (together < G rows: the last partial global batch); without, it has ceil(rows / G) steps and each
// rank pads by wrapping to the first positions of its own stream.
// Memory: only the current part of a rank (plus the next one at a boundary) need be resident.
//
// Shuffling uses its own splitmix64 + Fisher-Yates, not std::shuffle, whose algorithm differs
// between standard libraries: the order must be identical on every machine of a job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace simcsepp::data {

struct RowRef {
  int32_t shard = 0;
  int64_t row = 0;  // within the shard
};

struct SamplerConfig {
  std::vector<int64_t> shard_rows;
  uint64_t seed = 42;
  int64_t window_shards = 8;  // shards per rank per window
  int world_size = 1;
  int64_t local_batch = 64;
  bool drop_tail = true;
};

class GlobalSampler {
 public:
  // Rows [begin, end) of one shard.
  struct ShardRange {
    int32_t shard = 0;
    int64_t begin = 0;
    int64_t end = 0;
  };
  // One rank's share of one window.
  struct Part {
    int64_t window = 0;
    std::vector<ShardRange> ranges;  // in window order
    int64_t begin = 0;               // first position of the part in the rank's epoch stream
    int64_t rows = 0;
  };

  // Throws simcsepp::Error on invalid settings (empty corpus, batch larger than the corpus...).
  explicit GlobalSampler(SamplerConfig config);

  int64_t total_rows() const { return total_rows_; }
  int64_t global_batch() const { return config_.local_batch * config_.world_size; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t shards_per_window() const { return config_.window_shards * config_.world_size; }
  const SamplerConfig& config() const { return config_; }

  // Shards per window, in window order, for a corpus of `shards` shards.
  std::vector<std::size_t> window_sizes(std::size_t shards) const;
  // Rank `rank`'s parts of every window of the epoch, in stream order.
  std::vector<Part> parts(uint64_t seed, int64_t epoch, int rank) const;
  // The rows of one part in their shuffled order (stream positions part.begin ...).
  std::vector<RowRef> part_order(uint64_t seed, int64_t epoch, int rank, const Part& part) const;
  // Rows in rank `rank`'s epoch stream (floor or ceil of total_rows / world_size).
  int64_t stream_rows(int rank) const;
  // Stream positions rank `rank` reads at `step` (wrapped into [0, stream_rows(rank))).
  std::vector<int64_t> positions(int64_t step, int rank) const;

 private:
  SamplerConfig config_;
  int64_t total_rows_ = 0;
  int64_t steps_per_epoch_ = 0;
};

// splitmix64-based deterministic generator (exposed for tests).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (Lemire's multiply-shift; bias < n / 2^64, irrelevant here).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }

 private:
  uint64_t state_;
};

}  // namespace simcsepp::data
