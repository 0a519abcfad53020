// global_sampler.h - the deterministic global order of a sharded corpus, split across ranks.
//
// Epoch e's order is a pure function of (seed, e, shard row counts, window_shards): the shards
// are permuted, grouped into windows of window_shards consecutive shards, and the rows of each
// window are permuted within it. Every rank computes the same order without communication.
// Global batch b covers epoch positions [b*G, (b+1)*G) with G = world_size * local_batch; rank
// r reads [b*G + r*L, b*G + (r+1)*L). With drop_tail the last partial global batch is dropped
// (each row appears at most once per epoch, all but < G exactly once); without, it is padded by
// wrapping around to the epoch's first positions (every row at least once).
// Memory: only a window's shards (plus the next one at a boundary) need to be resident.
//
// Shuffling uses its own splitmix64 + Fisher-Yates, not std::shuffle, whose algorithm differs
// between standard libraries: the order must be identical on every machine of a job.
#pragma once

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
  int64_t window_shards = 8;
  int world_size = 1;
  int64_t local_batch = 64;
  bool drop_tail = true;
};

class GlobalSampler {
 public:
  struct Window {
    std::vector<int32_t> shards;
    int64_t begin = 0;  // first epoch position of the window
    int64_t rows = 0;
  };

  // Throws simcsepp::Error on invalid settings (empty corpus, batch larger than the corpus...).
  explicit GlobalSampler(SamplerConfig config);

  int64_t total_rows() const { return total_rows_; }
  int64_t global_batch() const { return config_.local_batch * config_.world_size; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  const SamplerConfig& config() const { return config_; }

  std::vector<Window> windows(uint64_t seed, int64_t epoch) const;
  // The rows of one window in their shuffled order.
  std::vector<RowRef> window_order(uint64_t seed, int64_t epoch, int64_t window_index, const Window& window) const;
  // Epoch positions rank `rank` reads at `step` (already wrapped into [0, total_rows)).
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
