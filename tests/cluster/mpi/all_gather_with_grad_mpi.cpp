// all_gather_with_grad_mpi.cpp - forward and backward of the autograd all-gather against one
// process that holds every rank's rows: rank r's gradient must equal the gradient of the sum of
// all ranks' losses with respect to rank r's rows (backward = reduce-scatter of the gradient).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cluster/all_gather_with_grad.h"
#include "tests/cluster/mpi/mpi_test_env.h"

namespace simcsepp::cluster::testing {
namespace {

// Rank q's loss on the gathered rows: a non-linear function of all rows with rank-specific weights.
torch::Tensor rank_loss(int q, const torch::Tensor& gathered) {
  auto w = rank_data(22, q, gathered.sizes(), torch::kDouble);
  return (torch::tanh(gathered) * w).sum() + gathered.pow(2).sum() * (0.1 * (q + 1));
}

TEST(AllGatherWithGrad, BackwardIsReduceScatterOfEveryRanksGradient) {
  const int w = comm().world_size(), me = comm().rank();
  const int64_t n = 3, d = 5;
  auto mine = rank_data(21, me, {n, d}, torch::kDouble).requires_grad_(true);
  auto gathered = all_gather_with_grad(comm(), mine);
  rank_loss(me, gathered).backward();

  // Single-process reference: every rank's rows as leaves, sum of every rank's loss.
  std::vector<torch::Tensor> leaves;
  for (int r = 0; r < w; ++r) leaves.push_back(rank_data(21, r, {n, d}, torch::kDouble).requires_grad_(true));
  auto all = torch::cat(leaves, 0);
  auto total = torch::zeros({}, torch::kDouble);
  for (int q = 0; q < w; ++q) total = total + rank_loss(q, all);
  total.backward();

  EXPECT_TRUE(torch::allclose(gathered.detach(), all.detach(), 0, 0));
  ASSERT_TRUE(mine.grad().defined());
  EXPECT_TRUE(torch::allclose(mine.grad(), leaves[me].grad(), 1e-12, 1e-12))
      << (mine.grad() - leaves[me].grad()).abs().max();
}

TEST(AllGatherWithGrad, GradientFlowsThroughAnEncoderToItsParameters) {
  // y = x W on each rank, gathered; the parameter gradient after averaging over ranks equals the
  // single-process gradient of the mean of the ranks' losses.
  const int w = comm().world_size(), me = comm().rank();
  auto weight = rank_data(23, 0, {4, 4}, torch::kDouble).requires_grad_(true);  // same on all ranks
  auto x = rank_data(24, me, {2, 4}, torch::kDouble);
  auto g = all_gather_with_grad(comm(), torch::matmul(x, weight));
  rank_loss(me, g).backward();
  auto grad = weight.grad().clone();
  comm().all_reduce(grad, ReduceOp::kAvg);

  auto ref_w = rank_data(23, 0, {4, 4}, torch::kDouble).requires_grad_(true);
  std::vector<torch::Tensor> xs;
  for (int r = 0; r < w; ++r) xs.push_back(rank_data(24, r, {2, 4}, torch::kDouble));
  auto all = torch::matmul(torch::cat(xs, 0), ref_w);
  auto total = torch::zeros({}, torch::kDouble);
  for (int q = 0; q < w; ++q) total = total + rank_loss(q, all);
  (total / w).backward();
  EXPECT_TRUE(torch::allclose(grad, ref_w.grad(), 1e-10, 1e-12)) << (grad - ref_w.grad()).abs().max();
}

}  // namespace
}  // namespace simcsepp::cluster::testing
