// chunked_step_equivalence_mpi.cpp - gradient caching is exact across ranks: W ranks running
// TrainStep with --chunk-size C on local batches of B (C < B, dividing B or not) take the same
// updates as ONE process running the unchunked TrainStep on the global batch W*B - same loss,
// same gradient, same parameters - for simcse, off-dropout, dcl, simcse++, supervised and
// supervised+off-dropout+dcl, with and without gradient accumulation. Run under mpirun -np 1,
// 2 and 3. float64 model, dropout 0.1 under the test-only keyed masks (model/dropout_masks.h):
// a sentence gets the same masks whichever rank and chunk encode it, so chunked and unchunked
// can be compared WITH dropout (DropoutChunks tells the keyed mode each chunk's rows).
// This is the test that fails when the cached gradient misses the other ranks' loss terms
// (all_gather_with_grad's reduce-scatter backward) or DCL's global statistics. The
// torch-generator side (pass 2 replays pass 1's masks) is tests/trainer/chunked_step_test.cpp.
// With a small logits budget the instance loss and its gradient run in row blocks
// (model/objective_backward.h) and must still match, across ranks.
// Also: a chunk as large as the batch is bit-identical to no chunking on every rank (torch's
// generator, per-rank seeds).
// Bounds: gradients and parameters within 1e-9 (relative to the largest gradient entry, or
// absolute for parameters, as tests/trainer/mpi/): float64 reduction-order noise is ~1e-15.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>

#include "cluster/single_process_communicator.h"
#include "model/dropout_masks.h"
#include "model/objective_config.h"
#include "model/sentence_encoder.h"
#include "tests/cluster/equivalence/equivalence_fixture.h"
#include "tests/cluster/mpi/mpi_test_env.h"
#include "trainer/train_step.h"

namespace simcsepp::trainer {
namespace {

using cluster::testing::comm;

constexpr int64_t kLocalBatch = 6;
constexpr int64_t kSeqLen = 8;
constexpr int kSteps = 3;

model::SentenceEncoder make_encoder() {
  torch::manual_seed(2024);
  model::SentenceEncoder encoder(equivalence::tiny_bert());
  encoder->to(torch::kDouble);
  return encoder;
}

data::TokenBatch batch_rows(int step, int column, int64_t global_rows, int64_t first, int64_t rows) {
  const auto global = equivalence::random_global_column(step, column, global_rows, kSeqLen);
  const auto ids = global.ids.narrow(0, first, rows).contiguous();
  const auto mask = global.mask.narrow(0, first, rows).contiguous();
  data::TokenBatch b;
  b.rows = rows;
  b.max_len = kSeqLen;
  b.input_ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
  b.attention_mask.assign(mask.data_ptr<int64_t>(), mask.data_ptr<int64_t>() + mask.numel());
  return b;
}

TrainStepConfig step_config(const std::string& objective, int64_t accum, int64_t chunk) {
  TrainStepConfig c;
  c.objective = model::parse_objective(objective);
  c.adamw.lr = 1e-2;
  c.adamw.weight_decay = 0.01;
  c.total_steps = kSteps;
  c.grad_accum = accum;
  c.chunk_size = chunk;
  c.bucket_bytes = 16 * 1024;  // several buckets, launched from the backward hooks
  return c;
}

struct Case {
  std::string objective;
  int64_t grad_accum;
  int64_t chunk;
  int64_t logits_budget = 0;  // > 0: the instance loss runs in row blocks (objective_backward.h)
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.objective << " grad_accum " << c.grad_accum << " chunk " << c.chunk << " logits budget "
      << c.logits_budget;
}

class ChunkedEquivalence : public ::testing::TestWithParam<Case> {};

TEST_P(ChunkedEquivalence, WRanksChunkedEqualOneProcessUnchunkedOnTheGlobalBatch) {
  const auto& param = GetParam();
  const int w = comm().world_size(), me = comm().rank();
  auto config = step_config(param.objective, param.grad_accum, param.chunk);
  config.logits_budget = param.logits_budget;
  TrainStep chunked(make_encoder(), config, comm());
  cluster::SingleProcessCommunicator single;
  TrainStep reference(make_encoder(), step_config(param.objective, param.grad_accum, 0), single);
  const int columns = chunked.config().objective.supervised ? 3 : 1;
  double worst_grad = 0, worst_param = 0;
  for (int s = 0; s < kSteps; ++s) {
    std::vector<std::vector<data::TokenBatch>> local(param.grad_accum), global(param.grad_accum);
    for (int64_t a = 0; a < param.grad_accum; ++a) {
      const int batch = static_cast<int>(s * param.grad_accum + a);
      for (int c = 0; c < columns; ++c) {
        local[a].push_back(batch_rows(batch, c, w * kLocalBatch, me * kLocalBatch, kLocalBatch));
        global[a].push_back(batch_rows(batch, c, w * kLocalBatch, 0, w * kLocalBatch));
      }
    }
    StepOutput out, ref;
    {
      model::testing::KeyedDropoutScope keyed(equivalence::keyed_dropout(s, me * kLocalBatch, kLocalBatch));
      out = chunked.step(local);
    }
    {
      model::testing::KeyedDropoutScope keyed(equivalence::keyed_dropout(s, 0, w * kLocalBatch));
      ref = reference.step(global);
    }
    auto loss = out.loss.clone();
    comm().all_reduce(loss, cluster::ReduceOp::kAvg);
    EXPECT_NEAR(loss.item<double>(), ref.loss.item<double>(), 1e-6 * std::max(1.0, std::abs(ref.loss.item<double>())))
        << "step " << s;
    const auto cp = chunked.encoder()->parameters(), rp = reference.encoder()->parameters();
    double scale = 0, step_grad = 0, step_param = 0;
    for (size_t i = 0; i < cp.size(); ++i) {
      scale = std::max(scale, rp[i].grad().abs().max().item<double>());
      step_grad = std::max(step_grad, (cp[i].grad() - rp[i].grad()).abs().max().item<double>());
      step_param = std::max(step_param, (cp[i] - rp[i]).abs().max().item<double>());
    }
    ASSERT_GT(scale, 1e-3);
    EXPECT_LE(step_grad, 1e-9 * std::max(1.0, scale)) << "step " << s << ": max |grad diff| " << step_grad;
    EXPECT_LE(step_param, 1e-9) << "step " << s << ": max |param diff| " << step_param;
    worst_grad = std::max(worst_grad, step_grad / std::max(1.0, scale));
    worst_param = std::max(worst_param, step_param);
  }
  if (me == 0) {
    std::printf("[chunked equivalence] %s accum %ld chunk %ld W=%d B=%ld: max rel |grad diff| %.3g, max |param diff| "
                "%.3g\n",
                param.objective.c_str(), static_cast<long>(param.grad_accum), static_cast<long>(param.chunk), w,
                static_cast<long>(kLocalBatch), worst_grad, worst_param);
  }
}

INSTANTIATE_TEST_SUITE_P(Objectives, ChunkedEquivalence,
                         ::testing::Values(Case{"simcse", 1, 2}, Case{"off-dropout", 1, 2}, Case{"dcl", 1, 2},
                                           Case{"simcse++", 1, 2}, Case{"supervised", 1, 2},
                                           Case{"supervised+off-dropout+dcl", 1, 4}, Case{"simcse++", 2, 4},
                                           Case{"supervised", 2, 4}, Case{"dcl", 1, 5},
                                           // Blockwise instance loss: blocks of 1 row; blocks of 4 / 2 / 1 rows at np 1 / 2 / 3.
                                           Case{"simcse++", 1, 2, 1}, Case{"supervised", 1, 4, 48}),
                         [](const auto& info) {
                           std::string n = info.param.objective + "_accum" + std::to_string(info.param.grad_accum) +
                                           "_chunk" + std::to_string(info.param.chunk) +
                                           (info.param.logits_budget > 0 ? "_blockwise" : "");
                           for (auto& ch : n)
                             if (ch == '-' || ch == '+') ch = '_';
                           return n;
                         });

TEST(ChunkedEquivalence, ChunkAsLargeAsTheBatchIsBitIdenticalOnEveryRank) {
  for (const char* objective : {"simcse++", "supervised"}) {
    SCOPED_TRACE(objective);
    TrainStep plain(make_encoder(), step_config(objective, 1, 0), comm());
    TrainStep chunked(make_encoder(), step_config(objective, 1, kLocalBatch), comm());
    const int w = comm().world_size(), me = comm().rank();
    const int columns = plain.config().objective.supervised ? 3 : 1;
    for (int s = 0; s < 2; ++s) {
      std::vector<std::vector<data::TokenBatch>> local(1);
      for (int c = 0; c < columns; ++c)
        local[0].push_back(batch_rows(s, c, w * kLocalBatch, me * kLocalBatch, kLocalBatch));
      torch::manual_seed(300 + 17 * me + s);
      const auto p = plain.step(local);
      torch::manual_seed(300 + 17 * me + s);
      const auto c = chunked.step(local);
      EXPECT_TRUE(torch::equal(p.host_scalars, c.host_scalars)) << "rank " << me << " step " << s;
      for (size_t i = 0; i < plain.gradients().size(); ++i)
        EXPECT_TRUE(torch::equal(plain.gradients()[i], chunked.gradients()[i])) << "rank " << me << " step " << s;
      const auto pp = plain.encoder()->parameters(), cp = chunked.encoder()->parameters();
      for (size_t i = 0; i < pp.size(); ++i) ASSERT_TRUE(torch::equal(pp[i], cp[i])) << "rank " << me << " param " << i;
    }
  }
}

}  // namespace
}  // namespace simcsepp::trainer
