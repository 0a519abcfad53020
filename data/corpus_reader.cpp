// corpus_reader.cpp - loading this rank's parts of each window, batch assembly, prefetching (see header).
#include "data/corpus_reader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "base/error.h"
#include "data/sha256.h"
#include "data/thread_read_meter.h"

namespace simcsepp::data {

namespace fs = std::filesystem;

namespace {

// The whole file, with one sequential pass of read() calls.
std::vector<char> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (!in || ec) {
    throw Error("shard file is missing or unreadable", path,
                "the manifest lists it; was the corpus directory copied partially? re-run `simcsepp prep`");
  }
  std::vector<char> bytes(static_cast<size_t>(size));
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (in.gcount() != static_cast<std::streamsize>(bytes.size())) {
    throw Error("shard file changed size while being read", path, "is prep still writing it?");
  }
  return bytes;
}

void check_attributes(const ShardAttributes& a, const Manifest& m, const ShardEntry& e, const std::string& path) {
  if (a.schema_version != m.schema_version || a.vocab_sha256 != m.vocab_sha256 || a.max_len != m.max_len ||
      a.lowercase != m.lowercase || a.columns != m.columns || a.fingerprint != m.fingerprint) {
    throw Error("shard was made with other settings or vocabulary than its manifest", path,
                "shards of different `simcsepp prep` runs were mixed; re-run prep into an empty directory");
  }
  if (a.rows != e.rows || a.first_row != e.first_row) {
    throw Error("shard holds rows " + std::to_string(a.first_row) + "+" + std::to_string(a.rows) +
                    ", the manifest says " + std::to_string(e.first_row) + "+" + std::to_string(e.rows),
                path, "re-run `simcsepp prep`");
  }
}

}  // namespace

CorpusReader::CorpusReader(ReaderOptions options) : options_(std::move(options)) {
  if (options_.world_size < 1 || options_.rank < 0 || options_.rank >= options_.world_size) {
    throw Error("rank " + std::to_string(options_.rank) + " outside world of " + std::to_string(options_.world_size),
                "reader", "launch with mpirun/srun so rank and world size are consistent");
  }
  manifest_ = Manifest::load(options_.corpus_dir);
  const std::string manifest_path = (fs::path(options_.corpus_dir) / kManifestFileName).string();
  if (!options_.expected_vocab_sha256.empty() && options_.expected_vocab_sha256 != manifest_.vocab_sha256) {
    throw Error("corpus was prepared with another vocabulary (sha256 " + manifest_.vocab_sha256.substr(0, 12) +
                    "..., expected " + options_.expected_vocab_sha256.substr(0, 12) + "...)",
                manifest_path,
                "is the shard from the same vocabulary? re-run `simcsepp prep` with the model's vocab.txt");
  }
  std::vector<int64_t> rows;
  for (const auto& s : manifest_.shards) rows.push_back(s.rows);
  hash_counts_.assign(manifest_.shards.size(), 0);
  sampler_ = std::make_unique<GlobalSampler>(SamplerConfig{
      rows, options_.seed, options_.window_shards, options_.world_size, options_.local_batch, options_.drop_tail});
  if (options_.layout_world_size > 0) {
    if (options_.layout_local_batch <= 0) {
      const int64_t global = options_.local_batch * options_.world_size;
      if (global % options_.layout_world_size != 0) {
        throw Error("global batch " + std::to_string(global) + " is not divisible by the " +
                        std::to_string(options_.layout_world_size) + " ranks of the epoch's layout",
                    "reader", "resume with the global batch of the checkpoint");
      }
      options_.layout_local_batch = global / options_.layout_world_size;
    }
    if (options_.layout_epoch < 0 || options_.layout_base_step < 0 || options_.layout_base_row < 0) {
      throw Error("internal: negative layout epoch, step or row", "reader", "report this");
    }
    layout_sampler_ = std::make_unique<GlobalSampler>(SamplerConfig{rows, options_.seed, options_.window_shards,
                                                                     options_.layout_world_size,
                                                                     options_.layout_local_batch, options_.drop_tail});
  }
  // A missing shard is an error now, not hours later; only this rank's shards of epoch 0 are
  // looked at (a stat, no open), so the job as a whole stats each shard once.
  for (const auto& part : sampler_->parts(options_.seed, 0, options_.rank)) {
    for (const auto& range : part.ranges) {
      const std::string path =
          (fs::path(options_.corpus_dir) / manifest_.shards[static_cast<size_t>(range.shard)].file).string();
      if (!fs::exists(path)) {
        throw Error("shard file is missing", path,
                    "the manifest lists it; was the corpus directory copied partially? re-run `simcsepp prep`");
      }
    }
  }
  // With a layout the steps before its base step do not exist: start at the base (seek() moves on).
  position_ = layout_sampler_ ? past_an_empty_layout_epoch(
                                    ReaderPosition{options_.seed, options_.layout_epoch, options_.layout_base_step})
                              : ReaderPosition{options_.seed, 0, 0};
  start_prefetch();
}

CorpusReader::~CorpusReader() { stop_prefetch(); }

std::shared_ptr<const ShardRows> CorpusReader::load_range(const GlobalSampler::ShardRange& range) {
  const ShardEntry& e = manifest_.shards[static_cast<size_t>(range.shard)];
  const std::string path = (fs::path(options_.corpus_dir) / e.file).string();
  const bool whole = range.begin == 0 && range.end == e.rows;
  const bool read_whole = whole || (options_.hash_split_shards && range.begin == 0);
  ThreadReadMeter meter;
  auto out = std::make_shared<ShardRows>();
  out->begin = range.begin;
  int64_t asked = 0;  // bytes asked for: the count when the kernel's is unavailable
  bool hashed = false;
  ShardAttributes attrs;
  if (read_whole) {
    const std::vector<char> bytes = read_file_bytes(path);
    asked = static_cast<int64_t>(bytes.size());
    if (options_.verify_checksums) {
      if (sha256_hex(std::string_view(bytes.data(), bytes.size())) != e.sha256) {
        throw Error("shard checksum differs from the manifest", path,
                    "the file was modified or corrupted after prep; re-run `simcsepp prep`");
      }
      hashed = true;
    }
    ShardData data = read_shard_image(path, bytes, &attrs);
    check_attributes(attrs, manifest_, e, path);
    for (auto& c : data.columns) {
      if (whole) {
        out->columns.push_back(std::move(c));
        continue;
      }
      ShardColumn part;  // only this rank's rows of a split shard stay resident
      const auto first = c.offsets[static_cast<size_t>(range.begin)], last = c.offsets[static_cast<size_t>(range.end)];
      part.ids.assign(c.ids.begin() + first, c.ids.begin() + last);
      part.offsets.assign(c.offsets.begin() + range.begin, c.offsets.begin() + range.end + 1);
      for (auto& o : part.offsets) o -= first;
      out->columns.push_back(std::move(part));
    }
  } else {
    *out = read_shard_rows(path, range.begin, range.end, &attrs);
    check_attributes(attrs, manifest_, e, path);
    for (const auto& c : out->columns) {
      asked += static_cast<int64_t>(c.ids.size() * (manifest_.id_dtype == "uint16" ? 2 : 4) + c.offsets.size() * 8);
    }
  }
  const int64_t measured = meter.stop();
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.bytes_read += measured >= 0 ? measured : asked;
  ++stats_.shards_opened;
  if (hashed) {
    ++stats_.shards_hashed;
    stats_.bytes_hashed += asked;
    ++hash_counts_[static_cast<size_t>(range.shard)];
  }
  return out;
}

CorpusReader::ResidentPart CorpusReader::load_part(const ReaderPosition& p, const GlobalSampler& sampler, int rank,
                                                   const GlobalSampler::Part& part) {
  ResidentPart r;
  r.rank = rank;
  r.seed = p.seed;
  r.epoch = p.epoch;
  r.part = part;
  r.order = sampler.part_order(p.seed, p.epoch, rank, part);
  for (const auto& range : part.ranges) r.ranges.push_back(load_range(range));
  return r;
}

int64_t CorpusReader::steps_in_epoch(int64_t epoch) const {
  if (!in_layout(epoch)) return sampler_->steps_per_epoch();
  const int64_t order_rows = layout_sampler_->steps_per_epoch() * layout_sampler_->global_batch();
  const int64_t left = std::max<int64_t>(0, order_rows - base_row(epoch));
  return base_step(epoch) + left / sampler_->global_batch();
}

int CorpusReader::layout_world_size(int64_t epoch) const {
  return in_layout(epoch) ? options_.layout_world_size : options_.world_size;
}

int64_t CorpusReader::layout_local_batch(int64_t epoch) const {
  return in_layout(epoch) ? options_.layout_local_batch : options_.local_batch;
}

int64_t CorpusReader::rows_consumed(const ReaderPosition& p) const {
  return base_row(p.epoch) + (p.step_in_epoch - base_step(p.epoch)) * sampler_->global_batch();
}

int64_t CorpusReader::rows_left_unread(int64_t epoch) const {
  const int64_t order_rows = sampler_of(epoch).steps_per_epoch() * sampler_of(epoch).global_batch();
  return order_rows - rows_consumed(ReaderPosition{options_.seed, epoch, steps_in_epoch(epoch)});
}

std::vector<CorpusReader::Source> CorpusReader::sources(const ReaderPosition& p) const {
  const int64_t rows = options_.local_batch;
  std::vector<Source> out(static_cast<size_t>(rows));
  if (!in_layout(p.epoch)) {
    const auto positions = sampler_->positions(p.step_in_epoch, options_.rank);
    for (int64_t i = 0; i < rows; ++i) out[static_cast<size_t>(i)] = {options_.rank, positions[static_cast<size_t>(i)]};
    return out;
  }
  // Rows [first, first + L) of the layout's global order: row g is in its global batch g / Go,
  // held by old rank (g % Go) / Lo at row (g % Go) % Lo of that rank's local batch.
  const int64_t old_local = layout_sampler_->config().local_batch;
  const int64_t old_global = layout_sampler_->global_batch();
  const int64_t first = rows_consumed(p) + options_.rank * rows;
  int64_t cached_step = -1;
  int cached_rank = -1;
  std::vector<int64_t> positions;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t g = first + i;
    const int64_t k = g / old_global;
    const int j = static_cast<int>((g % old_global) / old_local);
    if (j != cached_rank || k != cached_step) {
      positions = layout_sampler_->positions(k, j);
      cached_rank = j;
      cached_step = k;
    }
    out[static_cast<size_t>(i)] = {j, positions[static_cast<size_t>(g % old_local)]};
  }
  return out;
}

TrainingBatch CorpusReader::build(const ReaderPosition& p) {
  const bool layout = in_layout(p.epoch);
  const GlobalSampler& sampler = sampler_of(p.epoch);
  const std::vector<Source> src = sources(p);
  const int64_t rows = options_.local_batch;
  // The parts of each source rank (one rank unless resharded; a slice spans at most a few).
  std::erase_if(caches_, [&](const PartCache& c) {
    return c.layout != layout || c.seed != p.seed || c.epoch != p.epoch ||
           std::none_of(src.begin(), src.end(), [&](const Source& s) { return s.rank == c.rank; });
  });
  const auto cache_of = [&](int rank) -> PartCache& {
    for (auto& c : caches_) {
      if (c.rank == rank) return c;
    }
    caches_.push_back(PartCache{layout, rank, p.seed, p.epoch, sampler.parts(p.seed, p.epoch, rank), 0});
    return caches_.back();
  };

  // The part of each position (parts are few and positions ascend, so the hint usually hits).
  struct Used {
    int rank = 0;
    int64_t window = 0;
    const GlobalSampler::Part* part = nullptr;
  };
  std::vector<const GlobalSampler::Part*> part_of(static_cast<size_t>(rows));
  std::vector<Used> used;
  for (int64_t i = 0; i < rows; ++i) {
    const Source s = src[static_cast<size_t>(i)];
    PartCache& cache = cache_of(s.rank);
    const auto& parts = cache.parts;
    size_t pi = cache.last_part;
    if (s.pos < parts[pi].begin || s.pos >= parts[pi].begin + parts[pi].rows) {
      const auto it = std::upper_bound(parts.begin(), parts.end(), s.pos,
                                       [](int64_t v, const GlobalSampler::Part& q) { return v < q.begin; });
      pi = static_cast<size_t>(it - parts.begin()) - 1;
      cache.last_part = pi;
    }
    part_of[static_cast<size_t>(i)] = &parts[pi];
    if (std::none_of(used.begin(), used.end(),
                     [&](const Used& u) { return u.rank == s.rank && u.window == parts[pi].window; })) {
      used.push_back({s.rank, parts[pi].window, &parts[pi]});
    }
  }
  // Bound memory: drop the parts this batch does not use before loading the ones it needs.
  const auto resident = [&](int rank, int64_t window) {
    return std::find_if(resident_.begin(), resident_.end(), [&](const ResidentPart& r) {
      return r.seed == p.seed && r.epoch == p.epoch && r.rank == rank && r.part.window == window;
    });
  };
  std::erase_if(resident_, [&](const ResidentPart& r) {
    return r.seed != p.seed || r.epoch != p.epoch || std::none_of(used.begin(), used.end(), [&](const Used& u) {
             return u.rank == r.rank && u.window == r.part.window;
           });
  });
  for (const auto& u : used) {
    if (resident(u.rank, u.window) == resident_.end()) resident_.push_back(load_part(p, sampler, u.rank, *u.part));
  }

  TrainingBatch batch;
  batch.position = p;
  const int64_t max_len = manifest_.max_len;
  batch.columns.resize(manifest_.columns.size());
  for (auto& c : batch.columns) {
    c.rows = rows;
    c.max_len = max_len;
    // [PAD] is id 0 in BERT vocabularies (the manifest does not record it).
    c.input_ids.assign(static_cast<size_t>(rows * max_len), 0);
    c.attention_mask.assign(static_cast<size_t>(rows * max_len), 0);
  }
  batch.global_rows.resize(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const Source s = src[static_cast<size_t>(r)];
    const GlobalSampler::Part& owner = *part_of[static_cast<size_t>(r)];
    const ResidentPart& part = *resident(s.rank, owner.window);
    const RowRef ref = part.order[static_cast<size_t>(s.pos - owner.begin)];
    size_t k = 0;  // the part's range of this shard (a part holds at most one per shard)
    while (part.part.ranges[k].shard != ref.shard) ++k;
    const ShardRows& data = *part.ranges[k];
    batch.global_rows[static_cast<size_t>(r)] = manifest_.shards[static_cast<size_t>(ref.shard)].first_row + ref.row;
    for (size_t c = 0; c < batch.columns.size(); ++c) {
      const auto ids = data.columns[c].row(ref.row - data.begin);
      auto& out = batch.columns[c];
      std::copy(ids.begin(), ids.end(), out.input_ids.begin() + r * max_len);
      std::fill_n(out.attention_mask.begin() + r * max_len, ids.size(), 1);
    }
  }
  // Still on the prefetch thread: the block the trainer copies to the device (pinned on CUDA).
  if (options_.batch_memory) batch.packed = pack_tokens(batch.columns, *options_.batch_memory);
  return batch;
}

ReaderStats CorpusReader::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return stats_;
}

std::vector<int32_t> CorpusReader::shard_hash_counts() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return hash_counts_;
}

ReaderPosition CorpusReader::past_an_empty_layout_epoch(ReaderPosition p) const {
  // A checkpoint at the end of a layout epoch that a larger global batch leaves without a whole
  // step: the next epoch starts.
  if (in_layout(p.epoch) && p.epoch == options_.layout_epoch && p.step_in_epoch == options_.layout_base_step &&
      p.step_in_epoch >= steps_in_epoch(p.epoch)) {
    return ReaderPosition{p.seed, p.epoch + 1, 0};
  }
  return p;
}

ReaderPosition CorpusReader::advance(ReaderPosition p) const {
  if (++p.step_in_epoch >= steps_in_epoch(p.epoch)) {
    p.step_in_epoch = 0;
    ++p.epoch;
  }
  return p;
}

void CorpusReader::prefetch_loop(ReaderPosition from) {
  try {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || static_cast<int>(queue_.size()) < options_.prefetch_batches; });
        if (stop_) return;
      }
      TrainingBatch b = build(from);
      from = advance(from);
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(b));
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

void CorpusReader::start_prefetch() {
  if (options_.prefetch_batches <= 0) return;
  stop_ = false;
  worker_ = std::thread([this, from = position_] { prefetch_loop(from); });
}

void CorpusReader::stop_prefetch() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
  queue_.clear();
  error_ = nullptr;
}

int CorpusReader::queue_depth() {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(queue_.size());
}

TrainingBatch CorpusReader::next() {
  TrainingBatch b;
  if (options_.prefetch_batches <= 0) {
    b = build(position_);
  } else {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return !queue_.empty() || error_; });
    if (queue_.empty()) std::rethrow_exception(error_);
    b = std::move(queue_.front());
    queue_.pop_front();
    cv_.notify_all();
  }
  position_ = advance(position_);
  return b;
}

void CorpusReader::seek(const ReaderPosition& position) {
  const ReaderPosition p = past_an_empty_layout_epoch(position);
  if (p.epoch < 0 || p.step_in_epoch < 0 || p.step_in_epoch >= steps_in_epoch(p.epoch) ||
      (p.epoch == options_.layout_epoch && p.step_in_epoch < options_.layout_base_step)) {
    throw Error("reader position epoch " + std::to_string(p.epoch) + " step " + std::to_string(p.step_in_epoch) +
                    " is outside the epoch of " + std::to_string(steps_in_epoch(p.epoch)) + " steps",
                "checkpoint", "resume with the same corpus, batch size and world size as the checkpoint");
  }
  stop_prefetch();
  position_ = p;
  start_prefetch();
}

}  // namespace simcsepp::data
