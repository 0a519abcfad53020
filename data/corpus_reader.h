// corpus_reader.h - the streaming per-rank reader of a prepared (sharded HDF5) corpus.
//
// Each rank constructs one CorpusReader with its rank and world size; every rank computes the
// same global order from (seed, epoch) (global_sampler.h) and reads only its share of each
// global batch, so across ranks each row appears exactly once per epoch (drop_tail) with no
// communication. Shards are loaded a window at a time, so memory is bounded by about two windows
// of shards however large the corpus is.
//
// Threading: a background thread prepares the next `prefetch_batches` batches (HDF5 reads,
// checksum checks, padding, packing into pinned memory for the GPU); next(), position() and seek() must be called from one thread.
// Errors in the prefetch thread (e.g. a corrupt shard) are rethrown by next().
// Resume: position() is the position of the batch the next call to next() returns; after
// seek(p) the reader returns exactly the batches an uninterrupted reader would from p on.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/global_sampler.h"
#include "data/manifest.h"
#include "data/shard_file.h"
#include "data/token_batch.h"

namespace simcsepp::data {

struct ReaderOptions {
  std::string corpus_dir;
  int rank = 0;
  int world_size = 1;
  int64_t local_batch = 64;
  uint64_t seed = 42;
  int64_t window_shards = 8;
  bool drop_tail = true;
  int prefetch_batches = 4;           // 0: no background thread, batches built in next()
  std::string expected_vocab_sha256;  // empty = don't check
  bool verify_checksums = true;       // sha256 of each shard against the manifest when loaded
  // Set: every batch is also packed into one block of this memory (TrainingBatch::packed) by
  // the prefetch thread; the trainer passes pinned memory on CUDA. Null: no packed copy.
  std::shared_ptr<HostMemory> batch_memory;
};

struct ReaderPosition {
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t step_in_epoch = 0;
  bool operator==(const ReaderPosition&) const = default;
};

struct TrainingBatch {               // one rank's share of one global batch
  std::vector<TokenBatch> columns;   // 1 column (unsupervised text) or 2/3 (sent0, sent1[, hard_neg])
  std::vector<int64_t> global_rows;  // corpus row ids of this rank's rows (for logging bad batches)
  ReaderPosition position;           // position of this batch
  PackedTokens packed;               // the columns in one block; only with ReaderOptions::batch_memory
};

class CorpusReader {
 public:
  // Validates manifest, shards and vocabulary; throws simcsepp::Error naming the file at fault.
  explicit CorpusReader(ReaderOptions options);
  ~CorpusReader();
  CorpusReader(const CorpusReader&) = delete;
  CorpusReader& operator=(const CorpusReader&) = delete;

  const Manifest& manifest() const { return manifest_; }
  int64_t steps_per_epoch() const { return sampler_->steps_per_epoch(); }
  TrainingBatch next();  // rolls over into the next epoch forever
  ReaderPosition position() const { return position_; }
  void seek(const ReaderPosition& position);
  // Batches already built and waiting in the prefetch queue (0 without prefetching). Near 0
  // before next() means the reader, not the model, limits the step rate.
  int queue_depth();

 private:
  TrainingBatch build(const ReaderPosition& p);  // prefetch thread (or next() without one)
  const ShardData& shard(int32_t index);
  void start_prefetch();
  void stop_prefetch();
  void prefetch_loop(ReaderPosition from);

  ReaderOptions options_;
  Manifest manifest_;
  std::unique_ptr<GlobalSampler> sampler_;
  ReaderPosition position_;

  // Builder state (touched only by the thread that builds batches).
  struct WindowCache {
    uint64_t seed = 0;
    int64_t epoch = -1;
    std::vector<GlobalSampler::Window> windows;
    std::vector<std::pair<int64_t, std::vector<RowRef>>> orders;  // (window index, order); few kept
    size_t last_window = 0;                                       // lookup hint: positions ascend
  } cache_;
  std::vector<std::shared_ptr<const ShardData>> shards_;  // by shard index; null = not resident

  // Prefetch queue.
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<TrainingBatch> queue_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace simcsepp::data
