// train_step_test.cpp - the off-dropout call really runs without dropout (and the next call has
// it again), TrainStep skips non-finite updates without touching any state, the schedule is
// linear with warmup, and checkpoint files detect corruption.
#include "tests/trainer/tiny_step_fixture.h"
#include "trainer/train_step.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cluster/base/error.h"
#include "cluster/single_process_communicator.h"
#include "model/objective_forward.h"
#include "model/sentence_encoder.h"
#include "trainer/checkpoint_file.h"
#include "trainer/lr_schedule.h"

using namespace simcsepp;

namespace {

model::BertConfig tiny_config() { return trainer::testing::tiny_step_config(); }

data::TokenBatch token_batch(int64_t rows, int64_t len, int seed) {
  return trainer::testing::random_token_batch(rows, len, seed);
}

}  // namespace

TEST(OffDropout, OffCallHasNoDropoutAndTheNextCallHasItAgain) {
  torch::manual_seed(1);
  model::SentenceEncoder enc(tiny_config());
  enc->train();
  const auto b = token_batch(4, 8, 2);
  const auto ids = trainer::to_ids_tensor(b, torch::kCPU);
  const auto mask = trainer::to_mask_tensor(b, torch::kCPU);
  enc->eval();
  const auto reference = enc->forward(ids, mask, model::Pooler::kCls, true).detach();  // eval: no dropout
  enc->train();

  model::ObjectiveConfig cfg = model::parse_objective("simcse++");
  const auto views = model::encode_views(enc, cfg, model::Pooler::kCls, {ids}, {mask});
  // The off-dropout view equals the dropout-free function; the dropout-on views do not.
  EXPECT_TRUE(torch::allclose(views.anchor_off.detach(), reference, 1e-6, 1e-6));
  EXPECT_FALSE(torch::allclose(views.anchor.detach(), reference, 1e-3, 1e-3));
  EXPECT_FALSE(torch::allclose(views.anchor.detach(), views.positive.detach(), 1e-3, 1e-3));
  EXPECT_TRUE(views.anchor_off.requires_grad());  // the off call carries gradient too
  // The next step's dropout-on call has dropout again.
  const auto next = enc->forward(ids, mask, model::Pooler::kCls, true).detach();
  EXPECT_FALSE(torch::allclose(next, reference, 1e-3, 1e-3));
  EXPECT_TRUE(enc->is_training());
}

TEST(TrainStep, ReadGivesTheStepsValuesAndDiagnostics) {
  torch::manual_seed(4);
  model::SentenceEncoder enc(tiny_config());
  cluster::SingleProcessCommunicator comm;
  trainer::TrainStepConfig sc;
  sc.objective = model::parse_objective("simcse++");
  sc.total_steps = 10;
  sc.diagnostics_every = 2;  // updates 0 and 2
  trainer::TrainStep step(enc, sc, comm);
  const std::vector<std::vector<data::TokenBatch>> batch = {{token_batch(4, 8, 4)}};
  for (int u = 0; u < 3; ++u) {
    const auto out = step.step(batch);
    const auto v = out.read();
    // Against values computed apart from the step's output tensors (on CPU read() copies those
    // very tensors, so comparing with their .item() would prove nothing): the gradient norm
    // from every parameter's gradient in double (no clipping here), the total from its parts
    // with the objective's weight.
    double squares = 0;
    for (const auto& p : enc->parameters()) squares += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
    ASSERT_GT(squares, 0.0);
    EXPECT_NEAR(v.grad_norm, std::sqrt(squares), 1e-5 * std::sqrt(squares));
    EXPECT_GT(v.instance, 0.0);
    EXPECT_GT(v.dcl, 0.0);
    EXPECT_NEAR(v.loss, v.instance + sc.objective.dcl_weight * v.dcl, 1e-6 * v.loss);
    EXPECT_FALSE(v.skipped);
    EXPECT_FALSE(v.stop);
    if (u % 2 == 0) {
      ASSERT_EQ(v.singular_values.size(), 4u);  // min(rows 4, hidden 32)
      EXPECT_TRUE(std::is_sorted(v.singular_values.rbegin(), v.singular_values.rend()));
      EXPECT_GT(v.singular_values.front(), 0.0);
    } else {
      EXPECT_TRUE(v.singular_values.empty());
    }
  }
}

TEST(TrainStep, NonFiniteUpdateIsSkippedAndLeavesStateUnchanged) {
  torch::manual_seed(3);
  model::SentenceEncoder enc(tiny_config());
  cluster::SingleProcessCommunicator comm;
  trainer::TrainStepConfig sc;
  sc.objective = model::parse_objective("simcse++");
  sc.adamw.lr = 1e-3;
  sc.total_steps = 10;
  sc.grad_clip = 1.0;
  trainer::TrainStep step(enc, sc, comm);
  const std::vector<std::vector<data::TokenBatch>> batch = {{token_batch(4, 8, 4)}};

  auto good = step.step(batch);
  EXPECT_EQ(good.skipped.item<float>(), 0.0f);
  EXPECT_TRUE(std::isfinite(good.loss.item<double>()));

  // Poison one weight: loss and gradients go non-finite.
  auto& w = enc->mlp->dense->weight;
  const auto saved = w.detach().clone();
  {
    torch::NoGradGuard g;
    w[0][0] = std::numeric_limits<float>::quiet_NaN();
  }
  std::vector<torch::Tensor> before;
  for (const auto& p : enc->parameters()) before.push_back(p.detach().clone());
  std::vector<torch::Tensor> optim_before;
  for (const auto& s : step.optimizer().state()) optim_before.push_back(s.clone());

  auto bad = step.step(batch);
  EXPECT_EQ(bad.skipped.item<float>(), 1.0f);
  const auto params = enc->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(torch::equal(params[i].detach().nan_to_num(), before[i].nan_to_num()))
        << "parameter " << i << " changed";
  }
  const auto optim_after = step.optimizer().state();
  for (size_t i = 0; i < optim_after.size(); ++i) EXPECT_TRUE(torch::equal(optim_after[i], optim_before[i]));

  // Repaired: the next update happens again.
  {
    torch::NoGradGuard g;
    w.copy_(saved);
  }
  auto again = step.step(batch);
  EXPECT_EQ(again.skipped.item<float>(), 0.0f);
  EXPECT_FALSE(torch::equal(enc->mlp->dense->weight.detach(), saved));
  EXPECT_EQ(step.optimizer().state().back().item<float>(), 2.0f);  // two real updates
}

TEST(TrainStep, GradientAccumulationMatchesOneLargeBatchForSimcse) {
  // Without DCL and without dropout, accumulating two halves of a batch gives the gradient of
  // the mean of the two half-batch losses.
  auto cfg = tiny_config();
  cfg.hidden_dropout_prob = 0;
  cfg.attention_probs_dropout_prob = 0;
  cluster::SingleProcessCommunicator comm;
  auto run = [&](int64_t accum) {
    torch::manual_seed(5);
    model::SentenceEncoder enc(cfg);
    trainer::TrainStepConfig sc;
    sc.objective = model::parse_objective("simcse");
    sc.grad_accum = accum;
    sc.adamw.lr = 1e-3;
    trainer::TrainStep step(enc, sc, comm);
    std::vector<std::vector<data::TokenBatch>> micro;
    for (int64_t a = 0; a < accum; ++a) micro.push_back({token_batch(4, 8, 10 + static_cast<int>(a))});
    auto out = step.step(micro);
    return std::make_pair(out.loss.item<double>(), enc->mlp->dense->weight.detach().clone());
  };
  const auto [loss2, w2] = run(2);
  EXPECT_TRUE(std::isfinite(loss2));
  // Independent check: average of two separate single-micro-batch losses.
  torch::manual_seed(5);
  model::SentenceEncoder enc(cfg);
  double sum = 0;
  for (int a = 0; a < 2; ++a) {
    const auto b = token_batch(4, 8, 10 + a);
    sum += model::forward_objective(enc, comm, model::parse_objective("simcse"), model::Pooler::kCls,
                                    {trainer::to_ids_tensor(b, torch::kCPU)}, {trainer::to_mask_tensor(b, torch::kCPU)})
               .total.item<double>();
  }
  EXPECT_NEAR(loss2, sum / 2, 1e-5);
}

TEST(LinearSchedule, WarmupThenLinearDecayToZero) {
  trainer::LinearSchedule s(1.0, 2, 10);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.0);
  EXPECT_DOUBLE_EQ(s.lr_at(1), 0.5);
  EXPECT_DOUBLE_EQ(s.lr_at(2), 1.0);
  EXPECT_DOUBLE_EQ(s.lr_at(6), 0.5);
  EXPECT_DOUBLE_EQ(s.lr_at(10), 0.0);
  EXPECT_DOUBLE_EQ(s.lr_at(12), 0.0);
  trainer::LinearSchedule paper(3e-5, 0, 4);
  EXPECT_DOUBLE_EQ(paper.lr_at(0), 3e-5);
  EXPECT_DOUBLE_EQ(paper.lr_at(2), 1.5e-5);
}

TEST(CheckpointFile, RoundTripsAndDetectsCorruption) {
  const auto dir = std::filesystem::temp_directory_path() / ("simcsepp_ckpt_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "a.ckpt").string();
  trainer::NamedTensors t = {
      {"x", torch::randn({3, 4})}, {"n", torch::arange(5)}, {"b", torch::ones({7}, torch::kByte)}};
  trainer::write_checkpoint_file(path, {{"step", 7}}, t);
  const auto back = trainer::read_checkpoint_file(path);
  EXPECT_EQ(back.meta.at("step").get<int>(), 7);
  EXPECT_TRUE(torch::equal(back.at("x"), t[0].second));
  EXPECT_TRUE(torch::equal(back.at("n"), t[1].second));
  EXPECT_TRUE(torch::equal(back.at("b"), t[2].second));
  {  // flip one byte in the tensor data
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-80, std::ios::end);
    char c;
    f.read(&c, 1);
    f.seekp(-80, std::ios::end);
    c ^= 0x5a;
    f.write(&c, 1);
  }
  std::string reason;
  EXPECT_FALSE(trainer::verify_checkpoint_file(path, &reason));
  EXPECT_NE(reason.find("checksum"), std::string::npos);
  EXPECT_THROW(trainer::read_checkpoint_file(path), simcsepp::Error);
  std::remove(path.c_str());  // not remove_all: see training_run.cpp remove_flat_dir
  ::rmdir(dir.c_str());
}
