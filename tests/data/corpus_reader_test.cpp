// corpus_reader_test.cpp - the streaming reader in one process: several CorpusReader instances
// with different ranks stand in for the ranks of a job (the mpirun versions are
// reader_mpi_main.cpp). Coverage, determinism, resume, windowing and error cases.
#include "data/corpus_reader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "base/error.h"
#include "corpus_fixture.h"
#include "data/wordpiece_tokenizer.h"

namespace simcsepp::data {
namespace {

using testing::fresh_dir;
using testing::make_text_corpus;

class CorpusReaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(fresh_dir("reader"));
    make_text_corpus(*dir_, 1000, 64);  // 16 shards, the last one partial
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static ReaderOptions options(int rank, int world, int64_t batch, int64_t window = 3) {
    ReaderOptions o;
    o.corpus_dir = (*dir_ / "corpus").string();
    o.rank = rank, o.world_size = world, o.local_batch = batch, o.window_shards = window;
    return o;
  }
  static std::filesystem::path* dir_;
};
std::filesystem::path* CorpusReaderTest::dir_ = nullptr;

TEST_F(CorpusReaderTest, EveryRowExactlyOncePerEpochAcrossRanks) {
  for (int world : {1, 2, 3}) {
    const int64_t batch = 16;
    std::vector<std::unique_ptr<CorpusReader>> readers;
    for (int r = 0; r < world; ++r) readers.push_back(std::make_unique<CorpusReader>(options(r, world, batch)));
    const int64_t total = readers[0]->manifest().total_rows;
    ASSERT_EQ(total, 1000);
    const int64_t steps = readers[0]->steps_per_epoch();
    EXPECT_EQ(steps, total / (batch * world));
    for (int epoch = 0; epoch < 2; ++epoch) {
      std::set<int64_t> seen;
      for (int64_t s = 0; s < steps; ++s) {
        for (auto& reader : readers) {
          const TrainingBatch b = reader->next();
          EXPECT_EQ(b.position.epoch, epoch);
          EXPECT_EQ(b.position.step_in_epoch, s);
          ASSERT_EQ(b.global_rows.size(), static_cast<size_t>(batch));
          for (int64_t row : b.global_rows) EXPECT_TRUE(seen.insert(row).second) << "duplicate row " << row;
        }
      }
      EXPECT_EQ(static_cast<int64_t>(seen.size()), steps * batch * world);  // only the tail is dropped
      EXPECT_GT(static_cast<int64_t>(seen.size()), total - batch * world);
    }
  }
}

TEST_F(CorpusReaderTest, QueueDepthFillsUpToPrefetchAndDrains) {
  auto o = options(0, 1, 8);
  o.prefetch_batches = 3;
  CorpusReader reader(o);
  // The prefetch thread fills the queue to prefetch_batches while nobody reads.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (reader.queue_depth() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(reader.queue_depth(), 3);
  reader.next();
  EXPECT_LE(reader.queue_depth(), 3);
  EXPECT_GE(reader.queue_depth(), 2);  // one taken; the worker may already have refilled it

  o.prefetch_batches = 0;  // no background thread: nothing is ever queued
  CorpusReader inline_reader(o);
  inline_reader.next();
  EXPECT_EQ(inline_reader.queue_depth(), 0);
}

TEST_F(CorpusReaderTest, PaddedTailCoversAllRows) {
  auto o = options(0, 1, 48);
  o.drop_tail = false;
  CorpusReader reader(o);
  std::set<int64_t> seen;
  for (int64_t s = 0; s < reader.steps_per_epoch(); ++s) {
    for (int64_t row : reader.next().global_rows) seen.insert(row);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST_F(CorpusReaderTest, DeterministicAndEpochsDiffer) {
  CorpusReader a(options(0, 2, 8)), b(options(0, 2, 8));
  const auto first = a.next();
  EXPECT_EQ(first.global_rows, b.next().global_rows);
  for (int i = 1; i < a.steps_per_epoch(); ++i) a.next();
  EXPECT_NE(a.next().global_rows, first.global_rows);  // epoch 1 reshuffles
  auto o = options(0, 2, 8);
  o.seed = 7;
  EXPECT_NE(CorpusReader(o).next().global_rows, first.global_rows);
}

TEST_F(CorpusReaderTest, ResumeYieldsTheSameBatches) {
  CorpusReader full(options(1, 2, 10));
  std::vector<TrainingBatch> expected;
  for (int i = 0; i < 120; ++i) expected.push_back(full.next());  // crosses into epoch 2
  for (int stop : {0, 17, 49, 50, 77}) {
    CorpusReader first(options(1, 2, 10));
    for (int i = 0; i < stop; ++i) first.next();
    const ReaderPosition saved = first.position();
    CorpusReader resumed(options(1, 2, 10));
    resumed.seek(saved);
    for (int i = stop; i < 120; ++i) {
      const TrainingBatch b = resumed.next();
      ASSERT_EQ(b.global_rows, expected[static_cast<size_t>(i)].global_rows) << "stop " << stop << " step " << i;
      ASSERT_EQ(b.columns[0].input_ids, expected[static_cast<size_t>(i)].columns[0].input_ids);
      ASSERT_EQ(b.position, expected[static_cast<size_t>(i)].position);
    }
  }
}

// The rows (and their token ids) a job of `readers` ranks reads in its next `steps` steps, as one
// list: each step's global batch is its ranks' local batches in rank order.
struct GlobalOrder {
  std::vector<int64_t> rows;
  std::vector<int64_t> ids;
  bool operator==(const GlobalOrder&) const = default;
};
GlobalOrder read_steps(std::vector<std::unique_ptr<CorpusReader>>& readers, int64_t steps) {
  GlobalOrder out;
  for (int64_t s = 0; s < steps; ++s) {
    for (auto& reader : readers) {
      const TrainingBatch b = reader->next();
      out.rows.insert(out.rows.end(), b.global_rows.begin(), b.global_rows.end());
      out.ids.insert(out.ids.end(), b.columns[0].input_ids.begin(), b.columns[0].input_ids.end());
    }
  }
  return out;
}
GlobalOrder slice(const GlobalOrder& o, int64_t begin_row, int64_t rows, int64_t max_len) {
  GlobalOrder out;
  out.rows.assign(o.rows.begin() + begin_row, o.rows.begin() + begin_row + rows);
  out.ids.assign(o.ids.begin() + begin_row * max_len, o.ids.begin() + (begin_row + rows) * max_len);
  return out;
}

// Resume on another world size (issue 16): the epoch in progress keeps the old layout and the new
// ranks take contiguous slices of each of its global batches, so the global batches (row ids and
// tokens, in order) equal the uninterrupted run's. Later epochs keep the layout too
// (layout_later_epochs: the uninterrupted run's batches forever) or use the new world's own.
TEST_F(CorpusReaderTest, ReshardedResumeKeepsTheGlobalBatches) {
  const int old_world = 3;
  const int64_t global = 12, stop = 30;
  std::vector<std::unique_ptr<CorpusReader>> full;
  for (int r = 0; r < old_world; ++r) full.push_back(std::make_unique<CorpusReader>(options(r, old_world, global / old_world)));
  const int64_t steps = full[0]->steps_per_epoch();
  ASSERT_EQ(steps, 1000 / global);
  const GlobalOrder uninterrupted = read_steps(full, 2 * steps);  // epochs 0 and 1
  const int64_t max_len = full[0]->manifest().max_len;
  for (int world : {2, 1}) {
    for (const char* mode : {"keep-layout", "this-epoch", "rebuild"}) {
      const std::string m = mode;
      std::vector<std::unique_ptr<CorpusReader>> resumed;
      for (int r = 0; r < world; ++r) {
        auto o = options(r, world, global / world);
        if (m != "rebuild") {
          o.layout_world_size = old_world, o.layout_epoch = 0;
          o.layout_base_step = stop, o.layout_base_row = stop * global;
          o.layout_later_epochs = m == "keep-layout";
        }
        resumed.push_back(std::make_unique<CorpusReader>(o));
        resumed.back()->seek({42, 0, stop});
        EXPECT_EQ(resumed.back()->rows_consumed(resumed.back()->position()), stop * global);
      }
      ASSERT_EQ(resumed[0]->steps_in_epoch(0), steps);
      const GlobalOrder rest = read_steps(resumed, steps - stop);
      const bool equal = rest == slice(uninterrupted, stop * global, (steps - stop) * global, max_len);
      // Control: rebuilding the epoch in progress with the new world's layout gives other batches.
      if (m == "rebuild") {
        EXPECT_FALSE(equal) << "world " << world;
        continue;
      }
      ASSERT_TRUE(equal) << "world " << world << " " << m;
      EXPECT_EQ(resumed[0]->position(), (ReaderPosition{42, 1, 0}));
      const GlobalOrder epoch1 = read_steps(resumed, steps);
      if (m == "keep-layout") {
        EXPECT_EQ(resumed[0]->layout_world_size(1), old_world);
        ASSERT_TRUE(epoch1 == slice(uninterrupted, steps * global, steps * global, max_len)) << "world " << world;
        continue;
      }
      // this-epoch: epoch 1 is the new world's own layout, the batches of a fresh reader of `world` ranks.
      EXPECT_EQ(resumed[0]->layout_world_size(1), world);
      std::vector<std::unique_ptr<CorpusReader>> fresh;
      for (int r = 0; r < world; ++r) {
        fresh.push_back(std::make_unique<CorpusReader>(options(r, world, global / world)));
        fresh.back()->seek({42, 1, 0});
      }
      const GlobalOrder own = read_steps(fresh, steps);
      EXPECT_TRUE(epoch1 == own) << "world " << world;
      EXPECT_EQ(std::set<int64_t>(own.rows.begin(), own.rows.end()).size(), static_cast<size_t>(steps * global));
    }
  }
  auto bad = options(0, 5, 2);  // global batch 10 cannot be cut into 3 old ranks' batches
  bad.layout_world_size = 3, bad.layout_epoch = 0;
  EXPECT_THROW(CorpusReader{bad}, Error);
}

// --allow-batch-change and --grad-accum changes: a resume whose global batch G' differs from the
// layout's G continues the layout's global order at the rows consumed, G' rows per step, to the
// end of the epoch (the last < G' rows unread); a later resume of that job continues from its own
// rows consumed. The next epoch is the new world's own layout (or the old one's, when the update
// batch is the same: a micro-batch of half the rows and twice the accumulation).
TEST_F(CorpusReaderTest, ChangedGlobalBatchContinuesTheGlobalOrder) {
  const int old_world = 3;
  const int64_t old_local = 4, old_global = 12, stop = 30;
  std::vector<std::unique_ptr<CorpusReader>> full;
  for (int r = 0; r < old_world; ++r) full.push_back(std::make_unique<CorpusReader>(options(r, old_world, old_local)));
  const int64_t steps = full[0]->steps_per_epoch();
  const int64_t order_rows = steps * old_global;
  const GlobalOrder uninterrupted = read_steps(full, 2 * steps);
  const int64_t max_len = full[0]->manifest().max_len;
  struct Case {
    int world;
    int64_t local;
    bool later;
  };
  for (const Case c : {Case{2, 5, false}, Case{3, 2, true}, Case{1, 7, false}}) {
    const int64_t g = c.world * c.local;
    for (bool ignore_base_row : {false, true}) {
      std::vector<std::unique_ptr<CorpusReader>> resumed;
      for (int r = 0; r < c.world; ++r) {
        auto o = options(r, c.world, c.local);
        o.layout_world_size = old_world, o.layout_local_batch = old_local, o.layout_epoch = 0;
        o.layout_base_step = stop, o.layout_base_row = ignore_base_row ? 0 : stop * old_global;
        o.layout_later_epochs = c.later;
        resumed.push_back(std::make_unique<CorpusReader>(o));
        resumed.back()->seek({42, 0, stop});
      }
      const int64_t left = (order_rows - stop * old_global) / g;
      if (!ignore_base_row) ASSERT_EQ(resumed[0]->steps_in_epoch(0), stop + left);
      const GlobalOrder rest = read_steps(resumed, left);
      const bool equal = rest == slice(uninterrupted, stop * old_global, left * g, max_len);
      if (ignore_base_row) {  // control: the position alone does not say where the order continues
        EXPECT_FALSE(equal) << "world " << c.world;
        continue;
      }
      ASSERT_TRUE(equal) << "world " << c.world << " local " << c.local;
      EXPECT_EQ(resumed[0]->rows_left_unread(0), order_rows - stop * old_global - left * g);
      EXPECT_EQ(resumed[0]->position(), (ReaderPosition{42, 1, 0}));
      const GlobalOrder epoch1 = read_steps(resumed, resumed[0]->steps_in_epoch(1));
      if (c.later) {
        EXPECT_TRUE(epoch1 == slice(uninterrupted, order_rows, order_rows, max_len));
      } else {
        std::vector<std::unique_ptr<CorpusReader>> fresh;
        for (int r = 0; r < c.world; ++r) {
          fresh.push_back(std::make_unique<CorpusReader>(options(r, c.world, c.local)));
          fresh.back()->seek({42, 1, 0});
        }
        EXPECT_TRUE(epoch1 == read_steps(fresh, fresh[0]->steps_per_epoch())) << "world " << c.world;
      }
    }
  }
  // A resume of the resumed job (2 ranks of 5 at step 40 of epoch 0) continues from its rows.
  auto at = [&](int rank, int world, int64_t local, int64_t base_step, int64_t base_row) {
    auto o = options(rank, world, local);
    o.layout_world_size = old_world, o.layout_local_batch = old_local, o.layout_epoch = 0;
    o.layout_base_step = base_step, o.layout_base_row = base_row;
    return std::make_unique<CorpusReader>(o);
  };
  std::vector<std::unique_ptr<CorpusReader>> second;
  for (int r = 0; r < 2; ++r) second.push_back(at(r, 2, 5, stop, stop * old_global));
  for (auto& reader : second) reader->seek({42, 0, 40});
  const int64_t rows_at_40 = second[0]->rows_consumed(second[0]->position());
  EXPECT_EQ(rows_at_40, stop * old_global + 10 * 10);
  std::vector<std::unique_ptr<CorpusReader>> third;
  for (int r = 0; r < 4; ++r) third.push_back(at(r, 4, 2, 40, rows_at_40));
  for (auto& reader : third) reader->seek({42, 0, 40});
  EXPECT_TRUE(read_steps(third, 5) == slice(uninterrupted, rows_at_40, 5 * 8, max_len));
  // A position before the base step does not exist in this layout.
  EXPECT_THROW(third[0]->seek({42, 0, 39}), Error);
}

TEST_F(CorpusReaderTest, WindowBoundsWhichShardsABatchDrawsFrom) {
  // With a window of one shard and a batch inside it, a batch's rows come from at most 2
  // shards (one window, or two at a window boundary), unlike a whole-corpus shuffle.
  auto o = options(0, 1, 8, 1);
  CorpusReader reader(o);
  for (int64_t s = 0; s < reader.steps_per_epoch(); ++s) {
    std::set<int64_t> shards;
    for (int64_t row : reader.next().global_rows) shards.insert(row / 64);
    EXPECT_LE(shards.size(), 2u);
  }
}

TEST_F(CorpusReaderTest, BatchContentsMatchTheTokenizer) {
  auto tok = WordPieceTokenizer::from_vocab_file(testing::vocab_path());
  CorpusReader reader(options(0, 1, 4, 100));
  const TrainingBatch b = reader.next();
  ASSERT_EQ(b.columns.size(), 1u);
  const TokenBatch& t = b.columns[0];
  EXPECT_EQ(t.max_len, 32);
  for (int64_t r = 0; r < t.rows; ++r) {
    // Global row g is sentence g: the input has no gaps besides skipped empty lines.
    const auto ids = tok.encode(
        "sentence number " + std::to_string(b.global_rows[static_cast<size_t>(r)]) + " of the test corpus", 32);
    for (size_t i = 0; i < 32; ++i) {
      EXPECT_EQ(t.input_ids[static_cast<size_t>(r) * 32 + i], i < ids.size() ? ids[i] : 0);
      EXPECT_EQ(t.attention_mask[static_cast<size_t>(r) * 32 + i], i < ids.size() ? 1 : 0);
    }
  }
}

// The memory the trainer passes on CUDA (pinned) is filled by the prefetch thread itself, in
// the layout the stager copies as one block: each column's ids, then its mask.
class RecordingHostMemory final : public HostMemory {
 public:
  std::shared_ptr<int64_t> allocate(int64_t elements) override {
    std::lock_guard<std::mutex> lock(mutex);
    threads.insert(std::this_thread::get_id());
    return heap->allocate(elements);
  }
  std::shared_ptr<HostMemory> heap = heap_host_memory();
  std::mutex mutex;
  std::set<std::thread::id> threads;
};

TEST_F(CorpusReaderTest, PrefetchThreadPacksEachBatchIntoTheGivenMemory) {
  auto memory = std::make_shared<RecordingHostMemory>();
  ReaderOptions o = options(1, 2, 8);
  o.batch_memory = memory;
  CorpusReader reader(o);
  for (int k = 0; k < 5; ++k) {
    const TrainingBatch b = reader.next();
    ASSERT_EQ(b.columns.size(), 1u);
    const TokenBatch& t = b.columns[0];
    ASSERT_NE(b.packed.data, nullptr);
    ASSERT_EQ(b.packed.elements, 2 * t.rows * t.max_len);
    const int64_t n = t.rows * t.max_len;
    const std::vector<int64_t> ids(b.packed.data.get(), b.packed.data.get() + n);
    const std::vector<int64_t> mask(b.packed.data.get() + n, b.packed.data.get() + 2 * n);
    EXPECT_EQ(ids, t.input_ids) << "batch " << k;
    EXPECT_EQ(mask, t.attention_mask) << "batch " << k;
  }
  std::lock_guard<std::mutex> lock(memory->mutex);
  EXPECT_EQ(memory->threads.count(std::this_thread::get_id()), 0u) << "packing ran on the training thread";
  EXPECT_EQ(memory->threads.size(), 1u);
  // Without memory there is no packed copy.
  CorpusReader plain(options(1, 2, 8));
  EXPECT_EQ(plain.next().packed.data, nullptr);
}

TEST(PackTokens, ColumnsInOrderEachIdsThenMask) {
  TokenBatch a{2, 3, {1, 2, 3, 4, 5, 6}, {1, 1, 0, 1, 1, 1}};
  TokenBatch b{2, 3, {7, 8, 9, 10, 11, 12}, {1, 0, 0, 1, 1, 0}};
  const PackedTokens p = pack_tokens({a, b}, *heap_host_memory());
  const std::vector<int64_t> got(p.data.get(), p.data.get() + p.elements);
  const std::vector<int64_t> want = {1, 2, 3, 4, 5, 6, 1, 1, 0, 1, 1, 1, 7, 8, 9, 10, 11, 12, 1, 0, 0, 1, 1, 0};
  EXPECT_EQ(got, want);
  TokenBatch bad = a;
  bad.attention_mask.pop_back();
  EXPECT_THROW(pack_tokens({bad}, *heap_host_memory()), std::logic_error);
}

TEST_F(CorpusReaderTest, RefusesAnotherVocabularyAndBadPositions) {
  auto o = options(0, 1, 8);
  o.expected_vocab_sha256 = std::string(64, 'a');
  EXPECT_THROW(CorpusReader{o}, Error);
  CorpusReader reader(options(0, 1, 8));
  EXPECT_THROW(reader.seek(ReaderPosition{42, 0, reader.steps_per_epoch()}), Error);
  auto too_big = options(0, 1, 2000);
  EXPECT_THROW(CorpusReader{too_big}, Error);
}

TEST_F(CorpusReaderTest, GlobalBatchesMixTheShardsOfAWindow) {
  // Each rank's local batch draws from its own part (~window_shards shards) and the ranks' parts
  // are disjoint but for split shards, so a global batch draws from about world x as many
  // shards as a local one (docs/data.md: shuffle quality).
  for (int world : {1, 2, 3}) {
    std::vector<std::unique_ptr<CorpusReader>> readers;
    for (int r = 0; r < world; ++r) readers.push_back(std::make_unique<CorpusReader>(options(r, world, 16, 2)));
    double local = 0, global = 0;
    const int64_t steps = readers[0]->steps_per_epoch();
    for (int64_t s = 0; s < steps; ++s) {
      std::set<int64_t> shards;
      for (auto& reader : readers) {
        std::set<int64_t> mine;
        for (int64_t row : reader->next().global_rows) mine.insert(row / 64);
        local += static_cast<double>(mine.size()) / world;
        shards.insert(mine.begin(), mine.end());
      }
      global += static_cast<double>(shards.size());
    }
    local /= static_cast<double>(steps), global /= static_cast<double>(steps);
    std::printf("world %d: distinct shards per local batch %.2f, per global batch %.2f\n", world, local, global);
    EXPECT_GE(local, 1.9) << "a local batch mixes the ~2 shards of its part";
    // 0.8: a shard split between two ranks counts once (4 of the 16 shards here at world 3).
    EXPECT_GE(global, 0.8 * world * local) << "world " << world;
  }
}

// The sampler's parts of one epoch for every rank.
std::vector<std::vector<GlobalSampler::Part>> all_parts(const GlobalSampler& s, uint64_t seed, int64_t epoch) {
  std::vector<std::vector<GlobalSampler::Part>> out;
  for (int r = 0; r < s.config().world_size; ++r) out.push_back(s.parts(seed, epoch, r));
  return out;
}

TEST(GlobalSampler, PartsCoverEveryRowOnceWithBalancedRanks) {
  // Unequal shards, worlds that do and do not divide the windows.
  const std::vector<int64_t> sizes = {5, 7, 3, 9, 64, 1, 12, 30, 30, 30, 2, 17};
  const int64_t total = 210;
  for (int world = 1; world <= 5; ++world) {
    for (int64_t window : {1, 2, 3}) {
      GlobalSampler s(SamplerConfig{sizes, 1, window, world, 4, true});
      for (int64_t epoch = 0; epoch < 3; ++epoch) {
        std::set<std::pair<int32_t, int64_t>> rows;
        const auto parts = all_parts(s, 1, epoch);
        for (int r = 0; r < world; ++r) {
          int64_t stream = 0;
          for (const auto& p : parts[static_cast<size_t>(r)]) {
            EXPECT_EQ(p.begin, stream);
            int64_t in_ranges = 0;
            for (const auto& range : p.ranges) in_ranges += range.end - range.begin;
            EXPECT_EQ(in_ranges, p.rows);
            stream += p.rows;
            const auto order = s.part_order(1, epoch, r, p);
            ASSERT_EQ(static_cast<int64_t>(order.size()), p.rows);
            for (const auto& ref : order) {
              EXPECT_TRUE(rows.insert({ref.shard, ref.row}).second) << "row twice: world " << world;
              EXPECT_LT(ref.row, sizes[static_cast<size_t>(ref.shard)]);
            }
          }
          EXPECT_EQ(stream, s.stream_rows(r));
          EXPECT_TRUE(stream == total / world || stream == total / world + 1) << "rank " << r << " of " << world;
        }
        EXPECT_EQ(static_cast<int64_t>(rows.size()), total) << "world " << world << " window " << window;
      }
    }
  }
}

TEST(GlobalSampler, EqualShardsAreSplitOnlyNearTheShortShardAndTheLastWindow) {
  // prep's layout: shards of equal size, the last shorter. A window of window x world shards
  // cuts on shard boundaries unless it holds the short shard or is the epoch's last.
  std::vector<int64_t> sizes(37, 100);
  sizes.back() = 41;
  for (int world : {1, 2, 3, 4, 7}) {
    GlobalSampler s(SamplerConfig{sizes, 9, 2, world, 8, true});
    for (int64_t epoch = 0; epoch < 4; ++epoch) {
      std::map<int32_t, int> readers;  // shard -> ranks reading some of it
      for (const auto& parts : all_parts(s, 9, epoch)) {
        for (const auto& p : parts) {
          for (const auto& range : p.ranges) ++readers[range.shard];
        }
      }
      int split = 0;
      for (const auto& [shard, n] : readers) split += n > 1 ? 1 : 0;
      EXPECT_EQ(readers.size(), sizes.size());
      EXPECT_LE(split, 2 * (world - 1)) << "world " << world << " epoch " << epoch;
    }
  }
}

TEST(GlobalSampler, WindowsAreBalancedInGroupsOfWorldShards) {
  for (size_t n : {1, 2, 5, 26, 37, 100}) {
    for (int world : {1, 2, 3, 4, 7}) {
      for (int64_t window : {1, 2, 8}) {
        GlobalSampler s(SamplerConfig{std::vector<int64_t>(n, 10), 5, window, world, 1, false});
        const auto sizes = s.window_sizes(n);
        const size_t per_window = static_cast<size_t>(window * world);
        EXPECT_EQ(sizes.size(), (n + per_window - 1) / per_window) << n << " shards, world " << world;
        size_t sum = 0, least = n, most = 0;
        for (size_t i = 0; i < sizes.size(); ++i) {
          sum += sizes[i];
          if (i + 1 < sizes.size()) EXPECT_EQ(sizes[i] % static_cast<size_t>(world), 0u);
          least = std::min(least, sizes[i]), most = std::max(most, sizes[i]);
        }
        EXPECT_EQ(sum, n);
        EXPECT_LE(most, per_window + static_cast<size_t>(world) - 1);
        // Equal to within one group of world shards plus the leftover n % world.
        EXPECT_LE(most - least, 2 * static_cast<size_t>(world) - 1) << n << " shards, world " << world;
        // The parts of all ranks together hold each window's shards.
        std::map<int64_t, std::set<int32_t>> shards_of;
        for (int r = 0; r < world; ++r) {
          for (const auto& p : s.parts(5, 0, r)) {
            for (const auto& range : p.ranges) shards_of[p.window].insert(range.shard);
          }
        }
        for (const auto& [w, shards] : shards_of) EXPECT_EQ(shards.size(), sizes[static_cast<size_t>(w)]);
      }
    }
  }
}

}  // namespace
}  // namespace simcsepp::data
