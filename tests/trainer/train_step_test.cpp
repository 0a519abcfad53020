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

#include "base/error.h"
#include "cluster/single_process_communicator.h"
#include "model/dropout_masks.h"
#include "model/objective_forward.h"
#include "model/sentence_encoder.h"
#include "trainer/adamw.h"
#include "trainer/checkpoint/checkpoint_file.h"
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

// grad_accum = k must update the weights by the gradient of the MEAN of the k micro-batch losses.
// (Not of one batch of k*B rows: in-batch negatives make that a different loss.) The reference
// is independent of TrainStep's per-micro-batch backward: one graph holding the k losses, one
// backward of their mean, one AdamW update. Float64, dropout 0.1 with keyed masks (the same
// sentence-keyed masks on both sides, model/dropout_masks.h), simcse++ (off-dropout + DCL).
// AdamW eps = 1 makes the first step ~ lr * g / (|g| + 1), proportional to the gradient; with the
// default eps it is ~ lr * sign(g) and would not see a missing 1/k.
TEST(TrainStep, GradientAccumulationUpdatesByTheMeanOfMicroBatchGradients) {
  constexpr int64_t kMicro = 3, kRows = 4, kLen = 8;
  constexpr double kWeightBound = 1e-12;  // float64; measured max diff printed below
  const auto objective = model::parse_objective("simcse++");
  trainer::AdamWConfig adamw;
  adamw.lr = 1e-2;
  adamw.eps = 1.0;
  cluster::SingleProcessCommunicator comm;
  auto make_encoder = [&] {
    torch::manual_seed(5);
    model::SentenceEncoder enc(tiny_config());
    enc->to(torch::kDouble);
    return enc;
  };
  std::vector<std::vector<data::TokenBatch>> micro;
  for (int64_t a = 0; a < kMicro; ++a) micro.push_back({token_batch(kRows, kLen, 10 + static_cast<int>(a))});
  model::testing::KeyedDropoutOptions keyed;
  keyed.seed = 3;
  keyed.rows_per_view = kRows;
  keyed.max_length = tiny_config().max_position_embeddings;

  auto accumulated = make_encoder();
  trainer::TrainStepConfig sc;
  sc.objective = objective;
  sc.grad_accum = kMicro;
  sc.adamw = adamw;
  trainer::TrainStep step(accumulated, sc, comm);
  trainer::StepOutput out;
  {
    model::testing::KeyedDropoutScope scope(keyed);
    out = step.step(micro);
  }

  // Reference: the k micro-batch losses in one graph, backward of sum / divisor, AdamW.
  auto reference = [&](double divisor, double* loss, double* grad_norm) {
    auto enc = make_encoder();
    model::testing::KeyedDropoutScope scope(keyed);
    auto total = torch::zeros({}, torch::kDouble);
    for (const auto& columns : micro) {
      total = total + model::forward_objective(enc, comm, objective, model::Pooler::kCls,
                                               {trainer::to_ids_tensor(columns[0], torch::kCPU)},
                                               {trainer::to_mask_tensor(columns[0], torch::kCPU)})
                          .total;
    }
    (total / divisor).backward();
    torch::NoGradGuard no_grad;
    if (loss) *loss = total.item<double>() / kMicro;
    if (grad_norm) {
      double sq = 0;
      for (const auto& p : enc->parameters()) sq += p.grad().pow(2).sum().item<double>();
      *grad_norm = std::sqrt(sq);
    }
    trainer::AdamW(enc->parameters(), adamw).step(adamw.lr, torch::zeros({}, torch::kFloat));
    return enc;
  };
  auto max_diff = [](model::SentenceEncoder& a, model::SentenceEncoder& b) {
    double worst = 0;
    auto bp = b->named_parameters();
    for (const auto& item : a->named_parameters())
      worst = std::max(worst, (item.value() - bp[item.key()]).abs().max().item<double>());
    return worst;
  };
  double ref_loss = 0, ref_norm = 0;
  auto mean = reference(static_cast<double>(kMicro), &ref_loss, &ref_norm);
  auto summed = reference(1.0, nullptr, nullptr);  // the bug: accumulation without 1/k
  auto initial = make_encoder();

  const double diff = max_diff(accumulated, mean);
  const double moved = max_diff(accumulated, initial);
  const double missing_scale = max_diff(summed, mean);
  std::printf("[grad-accum] k=%ld: max |weight diff| vs mean-gradient reference %.3g, vs no-1/k %.3g, "
              "max |weight change| %.3g\n",
              static_cast<long>(kMicro), diff, max_diff(accumulated, summed), moved);
  EXPECT_LE(diff, kWeightBound);
  EXPECT_GT(moved, 1e-4);                      // the update really moved the weights
  EXPECT_GT(missing_scale, 1e3 * kWeightBound);  // a missing 1/k is far outside the bound
  EXPECT_NEAR(out.loss.item<double>(), ref_loss, 1e-6 * std::abs(ref_loss));  // fp32 output
  EXPECT_NEAR(out.grad_norm.item<double>(), ref_norm, 1e-6 * ref_norm);
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
