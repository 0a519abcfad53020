// grad_norm_test.cpp - the step's global gradient norm (a fused norm per flat buffer) equals the
// L2 norm of every parameter's gradient computed independently in double, for mixed buffer dtypes
// too; clipping scales the gradient to the clip norm and the reported norm is the one before.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cluster/single_process_communicator.h"
#include "tests/trainer/tiny_step_fixture.h"
#include "trainer/train_step.h"

namespace simcsepp::trainer {
namespace {

model::BertConfig tiny_config() { return trainer::testing::tiny_step_config(); }

data::TokenBatch token_batch(int64_t rows, int64_t len, int seed) {
  return trainer::testing::random_token_batch(rows, len, seed);
}

double reference_norm(const std::vector<torch::Tensor>& tensors) {
  double sq = 0;
  for (const auto& t : tensors) sq += t.to(torch::kDouble).pow(2).sum().item<double>();
  return std::sqrt(sq);
}

TEST(GlobalNorm, MatchesADoubleReferenceOverMixedDtypes) {
  torch::manual_seed(3);
  const std::vector<torch::Tensor> buffers = {torch::randn({1000}), torch::randn({37}).to(torch::kBFloat16),
                                              torch::randn({11}, torch::kDouble) * 1e3};
  const auto norm = global_norm(buffers);
  EXPECT_EQ(norm.scalar_type(), torch::kFloat32);
  EXPECT_EQ(norm.dim(), 0);
  EXPECT_NEAR(norm.item<double>(), reference_norm(buffers), 1e-6 * reference_norm(buffers));
  const std::vector<torch::Tensor> one = {buffers[0]};
  EXPECT_NEAR(global_norm(one).item<double>(), reference_norm(one), 1e-6 * reference_norm(one));
}

struct Stepped {
  double norm;
  std::vector<torch::Tensor> grads;
};
Stepped one_step(double clip) {
  torch::manual_seed(5);
  model::SentenceEncoder enc(tiny_config());
  cluster::SingleProcessCommunicator comm;
  TrainStepConfig sc;
  sc.objective = model::parse_objective("simcse++");
  sc.grad_clip = clip;
  TrainStep step(enc, sc, comm);
  torch::manual_seed(6);
  const auto out = step.step({{token_batch(4, 8, 7)}});
  Stepped s{out.grad_norm.item<double>(), {}};
  for (const auto& p : enc->parameters()) s.grads.push_back(p.grad().detach().clone());
  return s;
}

TEST(TrainStepGradNorm, IsTheNormOfEveryParametersGradient) {
  const auto s = one_step(0.0);
  const double ref = reference_norm(s.grads);
  ASSERT_GT(ref, 0.0);
  EXPECT_NEAR(s.norm, ref, 1e-5 * ref);
}

TEST(TrainStepGradNorm, ClippingScalesToTheClipNormAndReportsTheNormBefore) {
  const auto free = one_step(0.0);
  const double clip = free.norm / 4;
  const auto clipped = one_step(clip);
  EXPECT_NEAR(clipped.norm, free.norm, 1e-6 * free.norm);  // same update, norm before clipping
  EXPECT_NEAR(reference_norm(clipped.grads), clip, 1e-4 * clip);
  // A clip above the norm changes nothing.
  const auto loose = one_step(free.norm * 2);
  for (size_t i = 0; i < free.grads.size(); ++i) EXPECT_TRUE(torch::equal(loose.grads[i], free.grads[i])) << i;
}

}  // namespace
}  // namespace simcsepp::trainer
