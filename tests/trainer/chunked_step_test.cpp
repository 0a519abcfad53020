// chunked_step_test.cpp - gradient caching (TrainStep with chunk_size, chunked_forward_backward.h)
// in one process with torch's own dropout generator (the production masks), float64:
//  - a chunk as large as the batch (or larger) is bit for bit the unchunked update, for every
//    objective: loss, gradient, parameters and the generator state afterwards;
//  - pass 2 draws exactly the masks of pass 1, chunk by chunk (DropoutRecorder), and pass 1
//    draws fresh masks per chunk;
//  - the gradient equals that of an independent reference with the same masks: every chunk
//    encoded with autograd and kept, one loss over the concatenated views, one backward;
//  - the update runs the same collectives as unchunked: one all-reduce per gradient bucket (not
//    one per chunk), one all-gather per gathered view.
// Multi-rank exactness against one process with the global batch: tests/trainer/chunked/.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "cluster/single_process_communicator.h"
#include "model/dropout_masks.h"
#include "model/objective.h"
#include "model/objective_forward.h"
#include "model/sentence_encoder.h"
#include "tests/trainer/tiny_step_fixture.h"
#include "trainer/chunked_forward_backward.h"
#include "trainer/train_step.h"

namespace simcsepp::trainer {
namespace {

constexpr int64_t kBatch = 6;
constexpr int64_t kLen = 8;

model::SentenceEncoder make_encoder() {
  torch::manual_seed(11);
  model::SentenceEncoder enc(testing::tiny_step_config());  // dropout 0.1
  enc->to(torch::kDouble);
  return enc;
}

TrainStepConfig config_for(const std::string& objective, int64_t chunk_size, int64_t grad_accum = 1) {
  TrainStepConfig c;
  c.objective = model::parse_objective(objective);
  c.adamw.lr = 1e-2;
  c.total_steps = 4;
  c.grad_accum = grad_accum;
  c.chunk_size = chunk_size;
  c.bucket_bytes = 4 * 1024;  // several buckets
  return c;
}

// grad_accum micro-batches of `columns` columns for update `update`.
std::vector<std::vector<data::TokenBatch>> batches(int update, int64_t grad_accum, int columns) {
  std::vector<std::vector<data::TokenBatch>> out(grad_accum);
  for (int64_t a = 0; a < grad_accum; ++a)
    for (int c = 0; c < columns; ++c)
      out[a].push_back(testing::random_token_batch(kBatch, kLen, 100 * update + 10 * static_cast<int>(a) + c));
  return out;
}

int columns_of(const TrainStepConfig& c) { return c.objective.supervised ? 3 : 1; }

torch::Tensor cpu_rng_state() { return at::detail::getDefaultCPUGenerator().get_state(); }

const char* kObjectives[] = {"simcse", "off-dropout", "dcl", "simcse++", "supervised", "supervised+off-dropout+dcl"};

TEST(ChunkedStep, ChunkAsLargeAsTheBatchIsBitIdenticalToNoChunking) {
  for (const char* objective : kObjectives) {
    for (const int64_t chunk : {kBatch, kBatch + 5}) {
      for (const int64_t accum : {1, 2}) {
        SCOPED_TRACE(std::string(objective) + " chunk " + std::to_string(chunk) + " accum " + std::to_string(accum));
        cluster::SingleProcessCommunicator comm;
        TrainStep plain(make_encoder(), config_for(objective, 0, accum), comm);
        TrainStep chunked(make_encoder(), config_for(objective, chunk, accum), comm);
        for (int u = 0; u < 2; ++u) {
          const auto b = batches(u, accum, columns_of(plain.config()));
          torch::manual_seed(500 + u);
          const auto p = plain.step(b);
          const auto p_rng = cpu_rng_state();
          torch::manual_seed(500 + u);
          const auto c = chunked.step(b);
          EXPECT_TRUE(torch::equal(p.host_scalars, c.host_scalars)) << "update " << u;
          EXPECT_TRUE(torch::equal(p_rng, cpu_rng_state())) << "the generator is not where unchunked leaves it";
          ASSERT_EQ(plain.gradients().size(), chunked.gradients().size());
          for (size_t i = 0; i < plain.gradients().size(); ++i)
            EXPECT_TRUE(torch::equal(plain.gradients()[i], chunked.gradients()[i])) << "update " << u;
          const auto pp = plain.encoder()->parameters(), cp = chunked.encoder()->parameters();
          for (size_t i = 0; i < pp.size(); ++i) ASSERT_TRUE(torch::equal(pp[i], cp[i])) << "param " << i;
        }
      }
    }
  }
}

// Equal inputs and outputs at a dropout site mean equal masks wherever the mask matters.
bool same_record(const model::testing::DropoutRecord& a, const model::testing::DropoutRecord& b) {
  return torch::equal(a.input, b.input) && torch::equal(a.output, b.output);
}
torch::Tensor dropped(const model::testing::DropoutRecord& r) { return (r.output == 0) & (r.input != 0); }

TEST(ChunkedStep, SecondPassDrawsTheMasksOfTheFirstPass) {
  for (const char* objective : {"simcse++", "supervised"}) {
    SCOPED_TRACE(objective);
    cluster::SingleProcessCommunicator comm;
    auto cfg = config_for(objective, 2);  // 3 chunks
    TrainStep step(make_encoder(), cfg, comm);
    const auto b = batches(0, 1, columns_of(cfg));
    torch::manual_seed(7);
    model::testing::DropoutRecorder recorder;
    step.step(b);
    // Per dropout-on call: the embeddings, then per layer the attention output and the FFN
    // output (SDPA's attention dropout is internal); one dropout-on call per chunk and pass;
    // the dropout-off calls of off-dropout draw nothing.
    const int64_t sites = 1 + 2 * testing::tiny_step_config().num_hidden_layers;
    const auto& r = recorder.records();
    ASSERT_EQ(static_cast<int64_t>(r.size()), 2 * 3 * sites);
    const size_t half = r.size() / 2;
    for (size_t i = 0; i < half; ++i) {
      EXPECT_TRUE(same_record(r[i], r[half + i])) << "chunk " << i / sites << " site " << i % sites;
      EXPECT_GT(dropped(r[i]).sum().item<int64_t>(), 0) << "dropout dropped nothing at record " << i;
    }
    // Fresh masks per chunk in pass 1 (not one mask replayed for every chunk).
    EXPECT_FALSE(torch::equal(dropped(r[0]), dropped(r[sites])));
  }
}

// Reference with the same masks: every chunk encoded WITH autograd in the order of pass 1, the
// views concatenated, the loss once, one backward; no caching, no second pass.
std::vector<torch::Tensor> reference_gradients(const std::string& objective, int64_t chunk,
                                               const std::vector<data::TokenBatch>& columns, uint64_t seed) {
  auto enc = make_encoder();
  enc->train();
  const auto cfg = model::parse_objective(objective);
  torch::manual_seed(seed);
  std::map<std::string, std::vector<torch::Tensor>> parts;
  for (int64_t off = 0; off < kBatch; off += chunk) {
    const int64_t rows = std::min(chunk, kBatch - off);
    std::vector<torch::Tensor> ids, masks;
    for (const auto& c : columns) {
      ids.push_back(to_ids_tensor(c, torch::kCPU).narrow(0, off, rows));
      masks.push_back(to_mask_tensor(c, torch::kCPU).narrow(0, off, rows));
    }
    const auto v = model::encode_views(enc, cfg, model::Pooler::kCls, ids, masks);
    auto add = [&](const char* name, const torch::Tensor& t) {
      if (t.defined()) parts[name].push_back(t);
    };
    add("anchor", v.anchor), add("positive", v.positive), add("hard_negative", v.hard_negative);
    add("anchor_off", v.anchor_off), add("positive_off", v.positive_off);
    add("hard_negative_off", v.hard_negative_off);
  }
  auto cat = [&](const char* name) { return parts.count(name) ? torch::cat(parts[name], 0) : torch::Tensor(); };
  model::ObjectiveViews views;
  views.anchor = cat("anchor"), views.positive = cat("positive"), views.hard_negative = cat("hard_negative");
  views.anchor_off = cat("anchor_off"), views.positive_off = cat("positive_off");
  views.hard_negative_off = cat("hard_negative_off");
  cluster::SingleProcessCommunicator comm;
  model::objective_loss(comm, cfg, views).total.backward();
  std::vector<torch::Tensor> grads;
  for (const auto& p : enc->parameters()) grads.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
  return grads;
}

TEST(ChunkedStep, GradientEqualsChunkwiseAutogradWithTheSameMasks) {
  for (const char* objective : kObjectives) {
    for (const int64_t chunk : {2, 4}) {  // 3 chunks; 4 + 2 (ragged)
      SCOPED_TRACE(std::string(objective) + " chunk " + std::to_string(chunk));
      cluster::SingleProcessCommunicator comm;
      auto cfg = config_for(objective, chunk);
      TrainStep step(make_encoder(), cfg, comm);
      const auto b = batches(0, 1, columns_of(cfg));
      torch::manual_seed(9);
      step.step(b);
      const auto ref = reference_gradients(objective, chunk, b[0], 9);
      const auto params = step.encoder()->parameters();
      double worst = 0, scale = 0;
      for (size_t i = 0; i < params.size(); ++i) {
        worst = std::max(worst, (params[i].grad() - ref[i]).abs().max().item<double>());
        scale = std::max(scale, ref[i].abs().max().item<double>());
      }
      EXPECT_GT(scale, 1e-3);
      EXPECT_LE(worst, 1e-12 * std::max(1.0, scale)) << "max |grad diff| " << worst;
    }
  }
}

// A world of one that takes the multi-rank paths and counts its collectives.
class CountingCommunicator final : public cluster::Communicator {
 public:
  CountingCommunicator() { force_collectives_for_testing(true); }
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "counting"; }
  void all_reduce(at::Tensor&, cluster::ReduceOp) override { ++calls["all_reduce"]; }
  at::Tensor all_gather(const at::Tensor& t) override {
    ++calls["all_gather"];
    return t.clone();
  }
  at::Tensor reduce_scatter(const at::Tensor& t) override {
    ++calls["reduce_scatter"];
    return t.clone();
  }
  void broadcast(at::Tensor&, int) override { ++calls["broadcast"]; }
  void barrier() override { ++calls["barrier"]; }
  [[noreturn]] void abort(const std::string& reason) override { throw std::runtime_error(reason); }
  std::map<std::string, int> calls;
};

TEST(ChunkedStep, RunsTheCollectivesOfTheUnchunkedUpdate) {
  for (const int64_t accum : {1, 2}) {
    SCOPED_TRACE("accum " + std::to_string(accum));
    CountingCommunicator plain_comm, chunked_comm;
    TrainStep plain(make_encoder(), config_for("simcse++", 0, accum), plain_comm);
    TrainStep chunked(make_encoder(), config_for("simcse++", 2, accum), chunked_comm);
    for (int u = 0; u < 2; ++u) {
      const auto b = batches(u, accum, 1);
      plain.step(b);
      chunked.step(b);
    }
    EXPECT_EQ(plain_comm.calls, chunked_comm.calls);
    // Buckets + the control flag per update: several buckets, each all-reduced once.
    EXPECT_GT(plain_comm.calls["all_reduce"], 2 * 2);
  }
}

}  // namespace
}  // namespace simcsepp::trainer
