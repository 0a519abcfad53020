// corpus_reader_test.cpp - the streaming reader in one process: several CorpusReader instances
// with different ranks stand in for the ranks of a job (the mpirun versions are
// reader_mpi_main.cpp). Coverage, determinism, resume, windowing and error cases.
#include "data/corpus_reader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "cluster/base/error.h"
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

TEST(GlobalSampler, OrderIsAPermutationPerEpoch) {
  GlobalSampler s(SamplerConfig{{5, 7, 3, 9}, 1, 2, 1, 4, true});
  EXPECT_EQ(s.total_rows(), 24);
  std::set<std::pair<int32_t, int64_t>> rows;
  const auto windows = s.windows(1, 0);
  for (size_t w = 0; w < windows.size(); ++w) {
    for (const auto& r : s.window_order(1, 0, static_cast<int64_t>(w), windows[w])) rows.insert({r.shard, r.row});
  }
  EXPECT_EQ(rows.size(), 24u);
}

}  // namespace
}  // namespace simcsepp::data
