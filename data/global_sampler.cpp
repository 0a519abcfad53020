// global_sampler.cpp - deterministic (seed, epoch) order with windowed shuffling (see header).
#include "data/global_sampler.h"

#include <numeric>
#include <string>

#include "cluster/base/error.h"

namespace simcsepp::data {

namespace {

uint64_t mix(uint64_t a, uint64_t b, uint64_t c) {
  SplitMix64 g(a ^ (b * 0xD1B54A32D192ED03ull) ^ (c * 0x8CB92BA72F3D8DD7ull));
  g.next();
  return g.next();
}

template <typename T>
void fisher_yates(std::vector<T>& v, SplitMix64& g) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[g.below(i)]);
}

}  // namespace

GlobalSampler::GlobalSampler(SamplerConfig config) : config_(std::move(config)) {
  if (config_.world_size < 1 || config_.local_batch < 1 || config_.window_shards < 1) {
    throw Error("world size, local batch and window size must be positive", "reader options",
                "check --batch-size and the number of ranks");
  }
  for (int64_t r : config_.shard_rows) total_rows_ += r;
  if (total_rows_ == 0) throw Error("corpus has no rows", "reader", "re-run `simcsepp prep`");
  const int64_t g = global_batch();
  steps_per_epoch_ = config_.drop_tail ? total_rows_ / g : (total_rows_ + g - 1) / g;
  if (steps_per_epoch_ == 0) {
    throw Error(
        "corpus of " + std::to_string(total_rows_) + " rows is smaller than one global batch of " + std::to_string(g),
        "reader", "use a smaller --batch-size, fewer ranks, or a larger corpus");
  }
}

std::vector<GlobalSampler::Window> GlobalSampler::windows(uint64_t seed, int64_t epoch) const {
  std::vector<int32_t> order(config_.shard_rows.size());
  std::iota(order.begin(), order.end(), 0);
  SplitMix64 g(mix(seed, static_cast<uint64_t>(epoch), 0x5AD5));
  fisher_yates(order, g);
  std::vector<Window> out;
  int64_t begin = 0;
  for (size_t i = 0; i < order.size(); i += static_cast<size_t>(config_.window_shards)) {
    Window w;
    w.begin = begin;
    for (size_t j = i; j < std::min(order.size(), i + static_cast<size_t>(config_.window_shards)); ++j) {
      w.shards.push_back(order[j]);
      w.rows += config_.shard_rows[static_cast<size_t>(order[j])];
    }
    begin += w.rows;
    out.push_back(std::move(w));
  }
  return out;
}

std::vector<RowRef> GlobalSampler::window_order(uint64_t seed, int64_t epoch, int64_t window_index,
                                                const Window& window) const {
  std::vector<RowRef> rows;
  rows.reserve(static_cast<size_t>(window.rows));
  for (int32_t s : window.shards) {
    for (int64_t r = 0; r < config_.shard_rows[static_cast<size_t>(s)]; ++r) rows.push_back(RowRef{s, r});
  }
  SplitMix64 g(mix(seed, static_cast<uint64_t>(epoch), 0x10000ull + static_cast<uint64_t>(window_index)));
  fisher_yates(rows, g);
  return rows;
}

std::vector<int64_t> GlobalSampler::positions(int64_t step, int rank) const {
  std::vector<int64_t> out(static_cast<size_t>(config_.local_batch));
  const int64_t first = step * global_batch() + rank * config_.local_batch;
  for (int64_t i = 0; i < config_.local_batch; ++i) out[static_cast<size_t>(i)] = (first + i) % total_rows_;
  return out;
}

}  // namespace simcsepp::data
