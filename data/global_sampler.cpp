// global_sampler.cpp - deterministic (seed, epoch) order: windows of shards cut into one part per
// rank, rows shuffled within each part (see header).
#include "data/global_sampler.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "base/error.h"

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
  if (steps_per_epoch_ == 0 || total_rows_ < config_.world_size) {
    throw Error(
        "corpus of " + std::to_string(total_rows_) + " rows is smaller than one global batch of " + std::to_string(g),
        "reader", "use a smaller --batch-size, fewer ranks, or a larger corpus");
  }
}

std::vector<size_t> GlobalSampler::window_sizes(size_t shards) const {
  // As many windows as windows of shards_per_window() need, sized as equally as whole groups of
  // world_size shards allow (the n % world_size left over go to the last): a group of world
  // equal shards cuts into world whole shards, and no window is much smaller than the others.
  const auto world = static_cast<size_t>(config_.world_size);
  const auto per_window = static_cast<size_t>(shards_per_window());
  const size_t windows = (shards + per_window - 1) / per_window;
  const size_t groups = shards / world, rest = shards % world;
  std::vector<size_t> sizes;
  for (size_t w = 0; w < windows; ++w) {
    const size_t size = (groups / windows + (w < groups % windows ? 1 : 0)) * world + (w + 1 == windows ? rest : 0);
    if (size > 0) sizes.push_back(size);
  }
  return sizes;
}

std::vector<GlobalSampler::Part> GlobalSampler::parts(uint64_t seed, int64_t epoch, int rank) const {
  const size_t n = config_.shard_rows.size();
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  SplitMix64 g(mix(seed, static_cast<uint64_t>(epoch), 0x5AD5));
  fisher_yates(order, g);

  const int64_t world = config_.world_size;
  const std::vector<size_t> sizes = window_sizes(n);
  std::vector<Part> out;
  int64_t stream = 0;       // this rank's stream position of the next part
  int64_t first_extra = 0;  // the rank that gets the next window's first extra row (round-robin)
  for (size_t i = 0, w = 0; w < sizes.size(); i += sizes[w], ++w) {
    const size_t end = i + sizes[w];
    int64_t rows = 0;
    for (size_t j = i; j < end; ++j) rows += config_.shard_rows[static_cast<size_t>(order[j])];
    const int64_t base = rows / world, extra = rows % world;
    // Ranks first_extra, first_extra + 1, ... (cyclically) get base + 1 rows.
    const auto gets_extra = [&](int64_t r) { return (r - first_extra + world) % world < extra; };
    int64_t cut = 0;  // where this rank's part starts in the window's concatenated rows
    for (int64_t r = 0; r < rank; ++r) cut += base + (gets_extra(r) ? 1 : 0);
    const int64_t size = base + (gets_extra(rank) ? 1 : 0);
    first_extra = (first_extra + extra) % world;

    Part p;
    p.window = static_cast<int64_t>(w);
    p.begin = stream;
    p.rows = size;
    int64_t at = 0;  // window offset of the current shard
    for (size_t j = i; j < end && at < cut + size; ++j) {
      const int32_t s = order[j];
      const int64_t s_rows = config_.shard_rows[static_cast<size_t>(s)];
      const int64_t lo = std::max(cut, at), hi = std::min(cut + size, at + s_rows);
      if (lo < hi) p.ranges.push_back(ShardRange{s, lo - at, hi - at});
      at += s_rows;
    }
    stream += size;
    if (size > 0) out.push_back(std::move(p));
  }
  return out;
}

std::vector<RowRef> GlobalSampler::part_order(uint64_t seed, int64_t epoch, int rank, const Part& part) const {
  std::vector<RowRef> rows;
  rows.reserve(static_cast<size_t>(part.rows));
  for (const ShardRange& r : part.ranges) {
    for (int64_t i = r.begin; i < r.end; ++i) rows.push_back(RowRef{r.shard, i});
  }
  // Rank 0's salt is the earlier whole-window sampler's, so one rank keeps its order.
  const uint64_t salt = 0x10000ull + static_cast<uint64_t>(part.window) + (static_cast<uint64_t>(rank) << 40);
  SplitMix64 g(mix(seed, static_cast<uint64_t>(epoch), salt));
  fisher_yates(rows, g);
  return rows;
}

int64_t GlobalSampler::stream_rows(int rank) const {
  return total_rows_ / config_.world_size + (rank < total_rows_ % config_.world_size ? 1 : 0);
}

std::vector<int64_t> GlobalSampler::positions(int64_t step, int rank) const {
  std::vector<int64_t> out(static_cast<size_t>(config_.local_batch));
  const int64_t first = step * config_.local_batch, rows = stream_rows(rank);
  for (int64_t i = 0; i < config_.local_batch; ++i) out[static_cast<size_t>(i)] = (first + i) % rows;
  return out;
}

}  // namespace simcsepp::data
