// corpus_reader.cpp - windowed shard loading, batch assembly and prefetching (see header).
#include "data/corpus_reader.h"

#include <algorithm>
#include <filesystem>

#include "cluster/base/error.h"
#include "data/sha256.h"

namespace simcsepp::data {

namespace fs = std::filesystem;

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
  // Every shard must exist and carry the manifest's settings; reading attributes is cheap.
  std::vector<int64_t> rows;
  for (const auto& s : manifest_.shards) {
    const std::string path = (fs::path(options_.corpus_dir) / s.file).string();
    const ShardAttributes a = read_shard_attributes(path);
    if (a.schema_version != manifest_.schema_version || a.vocab_sha256 != manifest_.vocab_sha256 ||
        a.max_len != manifest_.max_len || a.lowercase != manifest_.lowercase || a.columns != manifest_.columns ||
        a.fingerprint != manifest_.fingerprint) {
      throw Error("shard was made with other settings or vocabulary than its manifest", path,
                  "shards of different `simcsepp prep` runs were mixed; re-run prep into an empty directory");
    }
    if (a.rows != s.rows || a.first_row != s.first_row) {
      throw Error("shard holds rows " + std::to_string(a.first_row) + "+" + std::to_string(a.rows) +
                      ", the manifest says " + std::to_string(s.first_row) + "+" + std::to_string(s.rows),
                  path, "re-run `simcsepp prep`");
    }
    rows.push_back(s.rows);
  }
  shards_.resize(manifest_.shards.size());
  sampler_ = std::make_unique<GlobalSampler>(SamplerConfig{
      rows, options_.seed, options_.window_shards, options_.world_size, options_.local_batch, options_.drop_tail});
  position_ = ReaderPosition{options_.seed, 0, 0};
  start_prefetch();
}

CorpusReader::~CorpusReader() { stop_prefetch(); }

const ShardData& CorpusReader::shard(int32_t index) {
  auto& slot = shards_[static_cast<size_t>(index)];
  if (slot) return *slot;
  const ShardEntry& e = manifest_.shards[static_cast<size_t>(index)];
  const std::string path = (fs::path(options_.corpus_dir) / e.file).string();
  if (options_.verify_checksums && sha256_file(path) != e.sha256) {
    throw Error("shard checksum differs from the manifest", path,
                "the file was modified or corrupted after prep; re-run `simcsepp prep`");
  }
  slot = std::make_shared<const ShardData>(read_shard(path));
  return *slot;
}

TrainingBatch CorpusReader::build(const ReaderPosition& p) {
  if (cache_.epoch != p.epoch || cache_.seed != p.seed) {
    cache_.seed = p.seed;
    cache_.epoch = p.epoch;
    cache_.windows = sampler_->windows(p.seed, p.epoch);
    cache_.orders.clear();
    cache_.last_window = 0;
  }
  const auto& ws = cache_.windows;
  const int64_t rows = options_.local_batch;
  const int64_t first = p.step_in_epoch * sampler_->global_batch() + options_.rank * rows;
  const int64_t total = sampler_->total_rows();

  // Resolve epoch positions to shard rows, noting the windows this batch touches.
  std::vector<RowRef> refs(static_cast<size_t>(rows));
  std::vector<int64_t> used;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t pos = (first + i) % total;  // wraps only for the padded tail
    size_t wi = cache_.last_window;
    if (pos < ws[wi].begin || pos >= ws[wi].begin + ws[wi].rows) {
      const auto it = std::upper_bound(ws.begin(), ws.end(), pos,
                                       [](int64_t v, const GlobalSampler::Window& w) { return v < w.begin; });
      wi = static_cast<size_t>(it - ws.begin()) - 1;
      cache_.last_window = wi;
    }
    const auto w = static_cast<int64_t>(wi);
    auto order = std::find_if(cache_.orders.begin(), cache_.orders.end(), [&](const auto& o) { return o.first == w; });
    if (order == cache_.orders.end()) {
      cache_.orders.emplace_back(w, sampler_->window_order(p.seed, p.epoch, w, ws[wi]));
      order = cache_.orders.end() - 1;
    }
    refs[static_cast<size_t>(i)] = order->second[static_cast<size_t>(pos - ws[wi].begin)];
    if (used.empty() || used.back() != w) used.push_back(w);
  }
  // Bound memory: drop the orders and shards of windows this batch no longer uses.
  const auto is_used = [&](int64_t w) { return std::find(used.begin(), used.end(), w) != used.end(); };
  if (cache_.orders.size() > used.size()) {
    std::erase_if(cache_.orders, [&](const auto& o) { return !is_used(o.first); });
    std::vector<char> keep(shards_.size(), 0);
    for (int64_t w : used) {
      for (int32_t s : ws[static_cast<size_t>(w)].shards) keep[static_cast<size_t>(s)] = 1;
    }
    for (size_t s = 0; s < shards_.size(); ++s) {
      if (!keep[s]) shards_[s].reset();
    }
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
    const RowRef ref = refs[static_cast<size_t>(r)];
    const ShardData& data = shard(ref.shard);
    batch.global_rows[static_cast<size_t>(r)] = manifest_.shards[static_cast<size_t>(ref.shard)].first_row + ref.row;
    for (size_t c = 0; c < batch.columns.size(); ++c) {
      const auto ids = data.columns[c].row(ref.row);
      auto& out = batch.columns[c];
      std::copy(ids.begin(), ids.end(), out.input_ids.begin() + r * max_len);
      std::fill_n(out.attention_mask.begin() + r * max_len, ids.size(), 1);
    }
  }
  // Still on the prefetch thread: the block the trainer copies to the device (pinned on CUDA).
  if (options_.batch_memory) batch.packed = pack_tokens(batch.columns, *options_.batch_memory);
  return batch;
}

namespace {
ReaderPosition advance(ReaderPosition p, int64_t steps_per_epoch) {
  if (++p.step_in_epoch >= steps_per_epoch) {
    p.step_in_epoch = 0;
    ++p.epoch;
  }
  return p;
}
}  // namespace

void CorpusReader::prefetch_loop(ReaderPosition from) {
  try {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || static_cast<int>(queue_.size()) < options_.prefetch_batches; });
        if (stop_) return;
      }
      TrainingBatch b = build(from);
      from = advance(from, sampler_->steps_per_epoch());
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
  position_ = advance(position_, sampler_->steps_per_epoch());
  return b;
}

void CorpusReader::seek(const ReaderPosition& position) {
  if (position.epoch < 0 || position.step_in_epoch < 0 || position.step_in_epoch >= steps_per_epoch()) {
    throw Error("reader position epoch " + std::to_string(position.epoch) + " step " +
                    std::to_string(position.step_in_epoch) + " is outside the epoch of " +
                    std::to_string(steps_per_epoch()) + " steps",
                "checkpoint", "resume with the same corpus, batch size and world size as the checkpoint");
  }
  stop_prefetch();
  position_ = position;
  start_prefetch();
}

}  // namespace simcsepp::data
