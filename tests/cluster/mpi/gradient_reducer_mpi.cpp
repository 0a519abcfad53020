// gradient_reducer_mpi.cpp - bucketed, hook-launched gradient averaging against the average of
// every rank's gradient computed in one process; gradient accumulation (more backward passes
// than announced), unused parameters and bucket sizes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cluster/gradient_reducer.h"
#include "tests/cluster/mpi/mpi_test_env.h"

namespace simcsepp::cluster::testing {
namespace {

// A small MLP with identical initial parameters on every rank; `unused` never gets gradient.
struct Net {
  std::vector<torch::Tensor> params;
  Net() {
    params = {rank_data(31, 0, {8, 6}), rank_data(32, 0, {8}), rank_data(33, 0, {4, 8}), rank_data(34, 0, {4}),
              rank_data(35, 0, {3})};
    for (auto& p : params) p.requires_grad_(true);
  }
  torch::Tensor loss(const torch::Tensor& x) const {
    auto h = torch::tanh(torch::nn::functional::linear(x, params[0], params[1]));
    return torch::nn::functional::linear(h, params[2], params[3]).pow(2).mean();
  }
};

// Mean over ranks (and passes) of the single-process gradients.
std::vector<torch::Tensor> reference_average(int passes) {
  Net net;
  const int w = comm().world_size();
  for (int r = 0; r < w; ++r)
    for (int k = 0; k < passes; ++k) (net.loss(rank_data(36 + k, r, {5, 6})) / w).backward();
  std::vector<torch::Tensor> g;
  for (auto& p : net.params) g.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
  return g;
}

void expect_matches(const Net& net, const std::vector<torch::Tensor>& ref) {
  for (size_t i = 0; i < ref.size(); ++i) {
    // fp32, honest on any CPU: both sides compute the same per-rank gradients (same shapes and
    // kernels) and differ only in the order of a sum of W <= 3 terms: <= 3 ulps (3.6e-7 relative).
    EXPECT_TRUE(torch::allclose(net.params[i].grad(), ref[i], 1e-5, 1e-6))
        << "param " << i << " max diff " << (net.params[i].grad() - ref[i]).abs().max();
  }
}

class BucketSizes : public ::testing::TestWithParam<int64_t> {};

TEST_P(BucketSizes, AverageEqualsSingleProcessAverage) {
  Net net;
  GradientReducerOptions options;
  options.bucket_bytes = GetParam();
  GradientReducer reducer(comm(), net.params, options);
  for (int step = 0; step < 3; ++step) {  // zero_grad must reset the bucket state
    reducer.zero_grad();
    net.loss(rank_data(36, comm().rank(), {5, 6})).backward();
    reducer.reduce();
    expect_matches(net, reference_average(1));
    // The unused parameter comes first in backward order: in the first step it holds every
    // bucket back; from the second step on it is no longer waited for.
    if (step == 0 && GetParam() > 100) {
      EXPECT_EQ(reducer.buckets_launched_early(), 0u);
    }
    if (step > 0) {
      EXPECT_EQ(reducer.buckets_launched_early(), reducer.bucket_count());
    }
  }
  // .grad() are views of the flat buffer.
  EXPECT_TRUE(net.params[0].grad().is_alias_of(reducer.buffers()[0]));
}

// 4 bytes: one bucket per parameter; 100: a few; 1 MiB: one bucket.
INSTANTIATE_TEST_SUITE_P(Sizes, BucketSizes, ::testing::Values(4, 100, 1 << 20));

TEST(GradientReducer, BucketCountFollowsBucketSize) {
  Net net;
  GradientReducerOptions small, large;
  small.bucket_bytes = 4;
  large.bucket_bytes = 1 << 20;
  EXPECT_EQ(GradientReducer(comm(), net.params, small).bucket_count(), net.params.size());
  EXPECT_EQ(GradientReducer(comm(), net.params, large).bucket_count(), 1u);
}

TEST(GradientReducer, GradientAccumulationAnnouncedOrNot) {
  for (int announced : {2, 1}) {  // 1: the extra pass re-reduces dirty buckets
    Net net;
    GradientReducerOptions options;
    options.bucket_bytes = 64;
    options.backward_passes_per_step = announced;
    GradientReducer reducer(comm(), net.params, options);
    reducer.zero_grad();
    for (int k = 0; k < 2; ++k) net.loss(rank_data(36 + k, comm().rank(), {5, 6})).backward();
    reducer.reduce();
    expect_matches(net, reference_average(2));
  }
}

TEST(GradientReducer, WithoutOverlapEverythingGoesAtReduce) {
  Net net;
  GradientReducerOptions options;
  options.overlap = false;
  options.bucket_bytes = 64;
  GradientReducer reducer(comm(), net.params, options);
  reducer.zero_grad();
  net.loss(rank_data(36, comm().rank(), {5, 6})).backward();
  EXPECT_EQ(reducer.buckets_launched_early(), 0u);
  reducer.reduce();
  expect_matches(net, reference_average(1));
}

}  // namespace
}  // namespace simcsepp::cluster::testing
