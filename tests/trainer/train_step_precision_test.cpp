// train_step_precision_test.cpp - the step's bf16 autocast (run as CPU autocast here; CUDA
// takes the same code path): one autocast region per micro-batch covering all encoder calls,
// the loss computed outside it in fp32 (bit-equal to a reference that does so, unequal to one
// that computes it inside), and an fp32 step that opens none.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cluster/single_process_communicator.h"
#include "model/autocast_scope.h"
#include "model/objective.h"
#include "model/objective_forward.h"
#include "tests/trainer/tiny_step_fixture.h"
#include "trainer/train_step.h"

namespace simcsepp::trainer {
namespace {

model::BertConfig tiny_config() { return trainer::testing::tiny_step_config(); }

data::TokenBatch token_batch(int64_t rows, int64_t len, int seed) {
  return trainer::testing::random_token_batch(rows, len, seed);
}

TrainStepConfig config(bool bf16, int64_t accum) {
  TrainStepConfig sc;
  sc.objective = model::parse_objective("simcse++");  // two encoder calls per micro-batch
  sc.mixed_precision = bf16;
  sc.grad_accum = accum;
  sc.total_steps = 10;
  return sc;
}

TEST(TrainStepPrecision, Bf16StepOpensOneAutocastRegionPerMicroBatch) {
  torch::manual_seed(1);
  model::SentenceEncoder enc(tiny_config());
  cluster::SingleProcessCommunicator comm;
  TrainStep step(enc, config(true, 2), comm);
  const std::vector<std::vector<data::TokenBatch>> micro = {{token_batch(4, 8, 2)}, {token_batch(4, 8, 3)}};
  for (int update = 0; update < 2; ++update) {
    const int64_t before = model::AutocastScope::regions_opened();
    const auto out = step.step(micro);
    // 2 micro-batches x 2 encoder calls x (BERT + MLP head): one region each micro-batch.
    EXPECT_EQ(model::AutocastScope::regions_opened() - before, 2) << "update " << update;
    EXPECT_FALSE(at::autocast::is_autocast_enabled(torch::kCPU));
    EXPECT_EQ(out.loss.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(std::isfinite(out.loss.item<double>()));
    EXPECT_GT(out.grad_norm.item<double>(), 0.0);
    EXPECT_EQ(out.skipped.item<float>(), 0.0f);
  }
  for (const auto& p : enc->parameters()) EXPECT_EQ(p.grad().scalar_type(), torch::kFloat32);  // fp32 masters
}

TEST(TrainStepPrecision, Fp32StepOpensNoRegion) {
  torch::manual_seed(1);
  model::SentenceEncoder enc(tiny_config());
  cluster::SingleProcessCommunicator comm;
  TrainStep step(enc, config(false, 1), comm);
  const int64_t before = model::AutocastScope::regions_opened();
  step.step({{token_batch(4, 8, 2)}});
  EXPECT_EQ(model::AutocastScope::regions_opened(), before);
}

// The loss of a bf16 step is the fp32 loss of views encoded in one bf16 region, bit for bit;
// the same loss computed inside the region (bf16 similarity matmuls) is a different number, so
// the equality shows the loss ran outside it.
TEST(TrainStepPrecision, LossIsComputedInFp32OutsideTheRegion) {
  torch::manual_seed(1);
  model::SentenceEncoder enc(tiny_config());
  cluster::SingleProcessCommunicator comm;
  const auto sc = config(true, 1);
  TrainStep step(enc, sc, comm);  // puts the encoder in train mode
  const auto batch = token_batch(8, 8, 2);
  const std::vector<torch::Tensor> ids = {to_ids_tensor(batch, torch::kCPU)};
  const std::vector<torch::Tensor> masks = {to_mask_tensor(batch, torch::kCPU)};
  auto encode = [&] {
    torch::manual_seed(77);  // same dropout masks for every variant
    return model::encode_views(enc, sc.objective, sc.pooler, ids, masks);
  };
  double outside = 0, inside = 0;
  {
    model::ObjectiveViews views;
    {
      model::AutocastScope autocast(torch::kCPU, true);
      views = encode();
    }
    outside = model::objective_loss(comm, sc.objective, views).total.item<double>();
  }
  {
    model::AutocastScope autocast(torch::kCPU, true);
    inside = model::objective_loss(comm, sc.objective, encode()).total.item<double>();
  }
  torch::manual_seed(77);
  const double stepped = step.step({{batch}}).loss.item<double>();
  EXPECT_EQ(stepped, outside);
  EXPECT_NE(outside, inside) << "the control no longer distinguishes fp32 from bf16 losses";
}

}  // namespace
}  // namespace simcsepp::trainer
