// corpus_reader.h - the streaming per-rank reader of a prepared (sharded HDF5) corpus.
//
// Each rank constructs one CorpusReader with its rank and world size; every rank computes the
// same global order from (seed, epoch) (global_sampler.h) and reads only its own part of each
// window - whole shards, and a row range of a shard split with a neighbour rank - so across
// ranks each row appears exactly once per epoch (drop_tail) and each shard byte is read by one
// rank, with no communication. Memory is bounded by about two parts (~2 x window_shards shards).
//
// I/O and verification: a shard this rank reads whole is read once into memory, its SHA-256 is
// checked against the manifest from those bytes, and HDF5 parses the same bytes; the range of a
// split shard is read with HDF5 hyperslabs (metadata + the range's offsets and ids), checked for
// consistent attributes and offsets but not hashed - unless hash_split_shards, then the rank
// holding the shard's first row reads it whole and hashes it. Either way no shard is hashed
// twice in one epoch by the job. Shard attributes are checked when the shard is loaded (the
// constructor only checks that this rank's epoch-0 shards exist, without opening them).
// stats() counts the bytes read from shard files (the kernel's count for the loading thread, so
// HDF5's metadata reads are included), the opens and the hashes.
//
// Threading: a background thread prepares the next `prefetch_batches` batches (HDF5 reads,
// checksum checks, padding, packing into pinned memory for the GPU); next(), position() and
// seek() must be called from one thread.
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
  int64_t window_shards = 8;  // shards per rank per window (a window has window_shards x world_size)
  bool drop_tail = true;
  // Resharded resume (docs/training.md#resharding). An epoch's "global order" is the sequence of
  // global batches its layout makes - layout_world_size ranks of layout_local_batch rows, global
  // batch k = old rank j's local batch k at rows [j*Lo, (j+1)*Lo) - read as one list of rows.
  // Epoch `layout_epoch` keeps the layout it was started with and continues its global order at
  // row layout_base_row from step layout_base_step, world_size x local_batch rows per step, this
  // rank taking rows [rank*local_batch, (rank+1)*local_batch) of each step's slice and reading the
  // shards of any old rank it needs. With layout_later_epochs the epochs after it keep the layout
  // too (same global batch: the uninterrupted run's batches forever, at the cost of reading other
  // ranks' shards); without, they use this world's own layout. layout_world_size 0: none.
  int layout_world_size = 0;
  int64_t layout_local_batch = 0;  // 0: local_batch x world_size / layout_world_size
  int64_t layout_epoch = -1;
  int64_t layout_base_step = 0;
  int64_t layout_base_row = 0;
  bool layout_later_epochs = false;
  int prefetch_batches = 4;           // 0: no background thread, batches built in next()
  std::string expected_vocab_sha256;  // empty = don't check
  bool verify_checksums = true;       // sha256 of each shard read whole against the manifest
  bool hash_split_shards = false;     // also hash split shards (their first row's rank reads them whole)
  // Set: every batch is also packed into one block of this memory (TrainingBatch::packed) by
  // the prefetch thread; the trainer passes pinned memory on CUDA. Null: no packed copy.
  std::shared_ptr<HostMemory> batch_memory;
};

// Cumulative since construction; one rank's reader.
struct ReaderStats {
  int64_t bytes_read = 0;     // from shard files, HDF5 metadata included
  int64_t shards_opened = 0;  // shard file opens (one per load of a shard or of a split shard's range)
  int64_t shards_hashed = 0;  // full SHA-256 checks
  int64_t bytes_hashed = 0;
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
  // Steps of a whole epoch after the layout epoch (the number the schedule counts with).
  int64_t steps_per_epoch() const { return steps_in_epoch(options_.layout_epoch + 1); }
  // Steps of epoch `epoch` (the layout epoch ends when its global order has no whole step left).
  int64_t steps_in_epoch(int64_t epoch) const;
  TrainingBatch next();  // rolls over into the next epoch forever
  ReaderPosition position() const { return position_; }
  // The layout epoch `epoch` uses: its world size and local batch (this world's own when none).
  int layout_world_size(int64_t epoch) const;
  int64_t layout_local_batch(int64_t epoch) const;
  // Rows of epoch p.epoch's global order consumed before the batch at p (all ranks together).
  int64_t rows_consumed(const ReaderPosition& p) const;
  // Rows of the layout epoch's global order no step will read (fewer than one global batch
  // unless the global batch changed), logged by the trainer.
  int64_t rows_left_unread(int64_t epoch) const;
  // Moves to p; a position at the very end of the layout epoch (no whole step left) moves to
  // the next epoch's first step. Throws simcsepp::Error when p is outside its epoch.
  void seek(const ReaderPosition& position);
  // Batches already built and waiting in the prefetch queue (0 without prefetching). Near 0
  // before next() means the reader, not the model, limits the step rate.
  int queue_depth();
  // Any thread; the prefetch thread may be loading meanwhile.
  ReaderStats stats() const;
  // Full SHA-256 checks per shard index since construction (tests, diagnostics).
  std::vector<int32_t> shard_hash_counts() const;

 private:
  struct ResidentPart {
    int rank = 0;  // the rank of the layout the part belongs to
    uint64_t seed = 0;
    int64_t epoch = -1;
    GlobalSampler::Part part;
    std::vector<RowRef> order;
    std::vector<std::shared_ptr<const ShardRows>> ranges;  // one per part.ranges entry
  };
  TrainingBatch build(const ReaderPosition& p);  // prefetch thread (or next() without one)
  // The (layout, rank, stream position) of each row of this rank's batch at p.
  struct Source {
    int rank = 0;
    int64_t pos = 0;
  };
  bool in_layout(int64_t epoch) const {
    return layout_sampler_ &&
           (epoch == options_.layout_epoch || (options_.layout_later_epochs && epoch > options_.layout_epoch));
  }
  const GlobalSampler& sampler_of(int64_t epoch) const { return in_layout(epoch) ? *layout_sampler_ : *sampler_; }
  int64_t base_step(int64_t epoch) const { return epoch == options_.layout_epoch ? options_.layout_base_step : 0; }
  int64_t base_row(int64_t epoch) const { return epoch == options_.layout_epoch ? options_.layout_base_row : 0; }
  ReaderPosition advance(ReaderPosition p) const;
  ReaderPosition past_an_empty_layout_epoch(ReaderPosition p) const;
  std::vector<Source> sources(const ReaderPosition& p) const;
  ResidentPart load_part(const ReaderPosition& p, const GlobalSampler& sampler, int rank,
                         const GlobalSampler::Part& part);
  std::shared_ptr<const ShardRows> load_range(const GlobalSampler::ShardRange& range);
  void start_prefetch();
  void stop_prefetch();
  void prefetch_loop(ReaderPosition from);

  ReaderOptions options_;
  Manifest manifest_;
  std::unique_ptr<GlobalSampler> sampler_;
  std::unique_ptr<GlobalSampler> layout_sampler_;  // resharded resume only: the old layout (or this world's)
  ReaderPosition position_;

  // Builder state (touched only by the thread that builds batches).
  struct PartCache {
    bool layout = false;  // parts of layout_sampler_ (not sampler_)
    int rank = 0;
    uint64_t seed = 0;
    int64_t epoch = -1;
    std::vector<GlobalSampler::Part> parts;  // the rank's parts of the epoch
    size_t last_part = 0;                    // lookup hint: positions ascend
  };
  std::vector<PartCache> caches_;  // one per rank whose parts the batches use (1 unless resharded)
  std::vector<ResidentPart> resident_;  // the parts the last batch used (usually 1, 2 at a boundary)

  // I/O accounting (written by the builder, read by stats() from any thread).
  mutable std::mutex stats_mutex_;
  ReaderStats stats_;
  std::vector<int32_t> hash_counts_;

  // Prefetch queue.
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<TrainingBatch> queue_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace simcsepp::data
