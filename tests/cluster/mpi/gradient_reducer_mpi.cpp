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

// Rank r's own gradients of pass k (single process), for the bf16 wire's references.
std::vector<torch::Tensor> rank_gradients(int r, int k = 0) {
  Net net;
  net.loss(rank_data(36 + k, r, {5, 6})).backward();
  std::vector<torch::Tensor> g;
  for (auto& p : net.params) g.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
  return g;
}

// --grad-comm-dtype bf16: the fp32 buffer the optimizer reads holds the average of the bf16-rounded
// gradients, rounded to bf16 (the MPI communicator sums the bf16 words in fp32 and rounds once).
TEST(GradientReducer, Bf16WireAveragesTheRoundedGradients) {
  for (const int64_t bucket_bytes : {int64_t{64}, int64_t{1} << 20}) {
    Net net;
    GradientReducerOptions options;
    options.bucket_bytes = bucket_bytes;
    options.comm_dtype = torch::kBFloat16;
    GradientReducer reducer(comm(), net.params, options);
    for (int step = 0; step < 2; ++step) {  // the second step launches every bucket from the hooks
      reducer.zero_grad();
      net.loss(rank_data(36, comm().rank(), {5, 6})).backward();
      reducer.reduce();
    }
    EXPECT_EQ(reducer.buffers()[0].scalar_type(), torch::kFloat);
    EXPECT_TRUE(net.params[0].grad().is_alias_of(reducer.buffers()[0]));
    const int w = comm().world_size();
    std::vector<std::vector<torch::Tensor>> per_rank;
    for (int r = 0; r < w; ++r) per_rank.push_back(rank_gradients(r));
    const auto fp32 = reference_average(1);
    bool rounded_somewhere = false;
    for (size_t i = 0; i < fp32.size(); ++i) {
      auto sum = torch::zeros_like(fp32[i]), magnitude = torch::zeros_like(fp32[i]);
      for (int r = 0; r < w; ++r) {
        sum += per_rank[r][i].to(torch::kBFloat16).to(torch::kFloat);
        magnitude += per_rank[r][i].abs() / w;
      }
      const auto emulated = (sum / w).to(torch::kBFloat16).to(torch::kFloat);
      const auto& got = net.params[i].grad();
      // The same arithmetic; only the order of a sum of W <= 3 bf16 values (exact in fp32 unless
      // their exponents differ by more than 16) could differ: one bf16 ulp at most.
      EXPECT_TRUE(torch::allclose(got, emulated, 1.0 / 256, 0)) << "param " << i;
      // Against the fp32 average: a rounding of each rank's gradient and one of the average,
      // each at most 2^-8 relative (bf16 has 8 significant bits).
      const auto bound = (magnitude + fp32[i].abs()) / 256 + 1e-30;
      EXPECT_TRUE(((got - fp32[i]).abs() <= bound).all().item<bool>())
          << "param " << i << " max error / bound " << ((got - fp32[i]).abs() / bound).max();
      rounded_somewhere = rounded_somewhere || !torch::equal(got, fp32[i]);
    }
    EXPECT_TRUE(rounded_somewhere) << "the bf16 wire left every gradient exactly fp32";
  }
}

TEST(GradientReducer, Bf16WireWithAnExtraPassReReducesTheDirtyBuckets) {
  Net net;
  GradientReducerOptions options;
  options.bucket_bytes = 64;
  options.comm_dtype = torch::kBFloat16;
  GradientReducer reducer(comm(), net.params, options);  // announced 1 pass, runs 2
  for (int step = 0; step < 2; ++step) {  // step 1: buckets launch after pass 1, pass 2 dirties them
    reducer.zero_grad();
    for (int k = 0; k < 2; ++k) net.loss(rank_data(36 + k, comm().rank(), {5, 6})).backward();
    reducer.reduce();
  }
  const int w = comm().world_size();
  const auto fp32 = reference_average(2);
  for (size_t i = 0; i < fp32.size(); ++i) {
    // Roundings to bf16 (each <= 2^-8 relative): every rank's pass-1 gradient, their average,
    // every rank's avg1 + g2, and the final average: the error is at most 2^-8 x (mean|g1| +
    // 2|avg1| + mean|g2| + |avg|), plus 1% for the second-order terms.
    auto g1 = torch::zeros_like(fp32[i]), g2 = torch::zeros_like(fp32[i]), avg1 = torch::zeros_like(fp32[i]);
    for (int r = 0; r < w; ++r) {
      const auto a = rank_gradients(r, 0)[i], b = rank_gradients(r, 1)[i];
      g1 += a.abs() / w;
      g2 += b.abs() / w;
      avg1 += a / w;
    }
    const auto bound = (g1 + 2 * avg1.abs() + g2 + fp32[i].abs()) / 256 * 1.01 + 1e-30;
    const auto& got = net.params[i].grad();
    EXPECT_TRUE(((got - fp32[i]).abs() <= bound).all().item<bool>())
        << "param " << i << " max error / bound " << ((got - fp32[i]).abs() / bound).max();
  }
}

}  // namespace
}  // namespace simcsepp::cluster::testing
