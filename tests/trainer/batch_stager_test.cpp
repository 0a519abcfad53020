// batch_stager_test.cpp - the BatchStager's fences (trainer/batch_stager.h) on a CPU simulation
// of two CUDA streams: the copy stream runs as far ahead as its waits allow, the compute stream
// runs only when the test drains it (a GPU busy with earlier steps), and each step's compute
// work snapshots the tokens it reads. A missing fence then shows up as wrong tokens: without
// the copy stream's wait on `consumed`, a later step's copy overwrites a slot before the step
// that reads it has run; without the host wait on `copied`, the host rewrites a pinned buffer
// that a queued copy has not read yet. Both are shown to be caught (FenceRemoved* tests).
// Packed steps (the reader's pinned blocks, copied from directly): a block the stager lets go
// is poisoned at once (what an allocator reusing it would do), so a block released before its
// copy has run shows up as wrong tokens too (PackedFenceRemoved*).
#include "trainer/batch_stager.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <string>

namespace simcsepp::trainer {
namespace {

// Streams are queues of operations executed in order; a wait blocks its stream until the
// event's record (the latest one when the wait was queued) has executed.
class SimulatedStreams final : public StagingOps {
 public:
  struct Op {
    std::function<void()> run;      // copy / compute work
    int record = -1, wait = -1;     // event to record / wait for
    int64_t generation = 0;         // record: its generation; wait: the one it needs
  };
  bool drop_copy_wait = false;  // break fence 3 (copy stream waits consumed)
  bool drop_host_wait = false;  // break fence 1 (host waits copied)
  std::vector<std::string> log;
  int host_buffers = 0;

  torch::Tensor host_buffer(int64_t n) override {
    ++host_buffers;
    return torch::zeros({n}, torch::kLong);
  }
  torch::Tensor device_buffer(int64_t n) override { return torch::zeros({n}, torch::kLong); }
  int new_event() override {
    recorded_.push_back(0);
    done_.push_back(0);
    return static_cast<int>(recorded_.size()) - 1;
  }
  void record(int e, Stream s) override {
    log.push_back("record " + std::to_string(e) + " on " + name(s));
    queue_[s].push_back({nullptr, e, -1, ++recorded_[e]});
    advance_copy();
  }
  void stream_wait(Stream s, int e) override {
    log.push_back(name(s) + " waits " + std::to_string(e));
    if (s == kCopy && drop_copy_wait) return;
    queue_[s].push_back({nullptr, -1, e, recorded_[e]});
    advance_copy();
  }
  void host_wait(int e) override {
    log.push_back("host waits " + std::to_string(e));
    if (drop_host_wait) return;
    while (done_[e] < recorded_[e]) {
      if (!step(kCopy) && !step(kCompute)) FAIL() << "host_wait on event " << e << " can never complete";
    }
  }
  void copy(torch::Tensor& device, const torch::Tensor& host, Stream s) override {
    log.push_back("copy on " + name(s));
    queue_[s].push_back({[device, host]() mutable { device.copy_(host); }});
    advance_copy();
  }
  // Compute work of a step (runs when the compute stream gets to it).
  void enqueue_compute(std::function<void()> work) { queue_[kCompute].push_back({std::move(work)}); }
  void drain() {
    while (step(kCompute) || step(kCopy)) {
    }
  }

 private:
  static std::string name(Stream s) { return s == kCopy ? "copy" : "compute"; }
  bool step(Stream s) {  // executes the stream's next operation if it can
    auto& q = queue_[s];
    if (q.empty()) return false;
    Op& op = q.front();
    if (op.wait >= 0 && done_[op.wait] < op.generation) return false;
    if (op.run) op.run();
    if (op.record >= 0) done_[op.record] = op.generation;
    q.pop_front();
    return true;
  }
  void advance_copy() {
    while (step(kCopy)) {
    }
  }
  std::map<int, std::deque<Op>> queue_;
  std::vector<int64_t> recorded_, done_;
};

data::TokenBatch batch_of(int64_t tag, int64_t rows = 3, int64_t len = 4) {
  data::TokenBatch b;
  b.rows = rows;
  b.max_len = len;
  for (int64_t i = 0; i < rows * len; ++i) {
    b.input_ids.push_back(tag * 1000 + i);
    b.attention_mask.push_back((tag + i) % 2);
  }
  return b;
}

// Host memory whose blocks are never returned to the system: a released block is filled with
// -1 (as if the allocator had handed it out again and it was rewritten) and kept, so a copy that
// still reads it afterwards sees the poison instead of undefined behaviour.
class PoisoningHostMemory final : public data::HostMemory {
 public:
  std::shared_ptr<int64_t> allocate(int64_t elements) override {
    auto& block = blocks_.emplace_back(static_cast<size_t>(elements), 0);
    ++allocated;
    return std::shared_ptr<int64_t>(block.data(), [this, &block](int64_t*) {
      std::fill(block.begin(), block.end(), -1);
      ++released;
    });
  }
  int allocated = 0, released = 0;

 private:
  std::deque<std::vector<int64_t>> blocks_;  // deque: growing it never moves a block
};

// Stages `steps` steps of two micro-batches x two columns without letting the compute stream
// run; each step's compute work snapshots what it reads. Returns, per step, whether every
// snapshot held that step's tokens. With `memory`, each step's micro-batches are packed into
// blocks of it (as the reader does) that only the stager keeps once stage() has returned.
std::vector<bool> run_steps(SimulatedStreams* sim, int steps, int slots, data::HostMemory* memory = nullptr) {
  auto owned = std::unique_ptr<SimulatedStreams>(sim);
  BatchStager stager(std::move(owned), slots);
  std::vector<std::vector<torch::Tensor>> seen(steps);
  std::vector<std::vector<std::vector<data::TokenBatch>>> sent(steps);
  for (int k = 0; k < steps; ++k) {
    sent[k] = {{batch_of(4 * k), batch_of(4 * k + 1)}, {batch_of(4 * k + 2), batch_of(4 * k + 3)}};
    std::vector<data::PackedTokens> packed;
    if (memory) {
      for (const auto& columns : sent[k]) packed.push_back(data::pack_tokens(columns, *memory));
    }
    auto staged = stager.stage(sent[k], packed);
    sim->enqueue_compute([&seen, k, staged] {
      for (size_t m = 0; m < staged.ids.size(); ++m)
        for (size_t c = 0; c < staged.ids[m].size(); ++c) {
          seen[k].push_back(staged.ids[m][c].clone());
          seen[k].push_back(staged.masks[m][c].clone());
        }
    });
    stager.release(staged);
  }
  sim->drain();
  std::vector<bool> ok(steps, true);
  for (int k = 0; k < steps; ++k) {
    size_t i = 0;
    for (const auto& columns : sent[k])
      for (const auto& b : columns) {
        auto ids = torch::tensor(b.input_ids).view({b.rows, b.max_len});
        auto mask = torch::tensor(b.attention_mask).view({b.rows, b.max_len});
        ok[k] = ok[k] && torch::equal(seen[k][i], ids) && torch::equal(seen[k][i + 1], mask);
        i += 2;
      }
  }
  return ok;
}

TEST(BatchStager, EveryStepReadsItsOwnTokensWhileTheGpuLagsBehind) {
  for (int slots : {1, 2, 3}) {
    auto ok = run_steps(new SimulatedStreams, 7, slots);
    for (int k = 0; k < 7; ++k) EXPECT_TRUE(ok[k]) << slots << " slots, step " << k;
  }
}

TEST(BatchStager, FenceRemovedCopyWaitOnConsumedIsCaught) {
  auto* sim = new SimulatedStreams;
  sim->drop_copy_wait = true;
  auto ok = run_steps(sim, 5, 2);
  EXPECT_TRUE(ok[0] == false || ok[1] == false) << "steps 2+ overwrote slots 0/1 before steps 0/1 read them";
}

TEST(BatchStager, FenceRemovedHostWaitOnCopiedIsCaught) {
  auto* sim = new SimulatedStreams;
  sim->drop_host_wait = true;
  auto ok = run_steps(sim, 5, 2);
  EXPECT_FALSE(ok[2]) << "step 4 rewrote slot 0's pinned buffer before step 2's queued copy read it";
}

TEST(BatchStager, PackedBlocksAreCopiedFromDirectlyAndKeptUntilTheirCopyRan) {
  for (int slots : {1, 2, 3}) {
    PoisoningHostMemory memory;
    auto* sim = new SimulatedStreams;
    auto ok = run_steps(sim, 7, slots, &memory);
    for (int k = 0; k < 7; ++k) EXPECT_TRUE(ok[k]) << slots << " slots, step " << k;
    EXPECT_EQ(memory.allocated, 14);
    EXPECT_EQ(memory.released, 14) << "the stager's destructor lets the last blocks go";
  }
}

TEST(BatchStager, PackedStepIsOneCopyPerMicroBatchAndNoStagingBuffer) {
  PoisoningHostMemory memory;  // outlives the stager, which holds blocks until it is destroyed
  auto* sim = new SimulatedStreams;
  BatchStager stager{std::unique_ptr<StagingOps>(sim), 2};
  const std::vector<std::vector<data::TokenBatch>> step = {{batch_of(1), batch_of(2)}, {batch_of(3), batch_of(4)},
                                                           {batch_of(5), batch_of(6)}};
  std::vector<data::PackedTokens> packed;
  for (const auto& columns : step) packed.push_back(data::pack_tokens(columns, memory));
  stager.release(stager.stage(step, packed));
  EXPECT_EQ(std::count(sim->log.begin(), sim->log.end(), "copy on copy"), 3);
  EXPECT_EQ(sim->host_buffers, 0) << "packed steps need no pinned staging buffer of the stager's own";
  // A block that does not hold exactly its micro-batch is refused, not copied short.
  packed[1].elements -= 1;
  EXPECT_THROW(stager.stage(step, packed), std::logic_error);
  packed.pop_back();
  EXPECT_THROW(stager.stage(step, packed), std::logic_error);
}

TEST(BatchStager, PackedFenceRemovedHostWaitOnCopiedIsCaught) {
  PoisoningHostMemory memory;
  auto* sim = new SimulatedStreams;
  sim->drop_host_wait = true;
  auto ok = run_steps(sim, 5, 2, &memory);
  EXPECT_FALSE(ok[2]) << "step 4 let step 2's blocks go before step 2's queued copy read them";
}

TEST(BatchStager, OrderOfOperationsPerStage) {
  auto* sim = new SimulatedStreams;
  BatchStager stager{std::unique_ptr<StagingOps>(sim), 2};
  const std::vector<std::vector<data::TokenBatch>> step = {{batch_of(1)}};
  stager.release(stager.stage(step));
  stager.release(stager.stage(step));
  sim->log.clear();
  stager.release(stager.stage(step));  // slot 0 again: events 0 (copied) and 1 (consumed)
  const std::vector<std::string> expected = {"host waits 0", "copy waits 1",  "copy on copy",
                                             "record 0 on copy", "compute waits 0", "record 1 on compute"};
  EXPECT_EQ(sim->log, expected);
}

TEST(BatchStager, GrowsForALargerStepAndRefusesAStageWithoutRelease) {
  auto* sim = new SimulatedStreams;
  BatchStager stager{std::unique_ptr<StagingOps>(sim), 1};
  auto small = stager.stage({{batch_of(1, 2, 4)}});
  stager.release(small);
  auto large = stager.stage({{batch_of(2, 8, 4), batch_of(3, 8, 4)}});
  sim->drain();
  EXPECT_TRUE(torch::equal(large.ids[0][1], torch::tensor(batch_of(3, 8, 4).input_ids).view({8, 4})));
  EXPECT_THROW(stager.stage({{batch_of(4)}}), std::logic_error);  // slot 0 not released
  data::TokenBatch bad = batch_of(5);
  bad.attention_mask.pop_back();
  stager.release(large);
  EXPECT_THROW(stager.stage({{bad}}), std::logic_error);
}

}  // namespace
}  // namespace simcsepp::trainer
