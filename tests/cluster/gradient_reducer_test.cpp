// gradient_reducer_test.cpp - flat-buffer layout of the gradient reducer in a world of one:
// .grad() views, bucket cuts, zero_grad, and the loud failure when .grad() is detached.
#include "cluster/gradient_reducer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cluster/single_process_communicator.h"

namespace simcsepp::cluster {
namespace {

std::vector<torch::Tensor> make_params() {
  return {torch::randn({4, 3}, torch::requires_grad()), torch::randn({5}, torch::requires_grad()),
          torch::randn({2}, torch::dtype(torch::kDouble).requires_grad(true))};
}

TEST(GradientReducer, GradsAreViewsOfOneBufferPerDtype) {
  SingleProcessCommunicator comm;
  auto params = make_params();
  GradientReducer reducer(comm, params);
  ASSERT_EQ(reducer.buffers().size(), 2u);  // float and double
  int64_t floats = 0;
  for (const auto& b : reducer.buffers()) {
    if (b.scalar_type() == torch::kFloat) floats = b.numel();
  }
  EXPECT_EQ(floats, 12 + 5);
  auto loss = (params[0].sum() * 2 + params[1].pow(2).sum()) + params[2].sum().to(torch::kFloat);
  reducer.zero_grad();
  loss.backward();
  reducer.reduce();
  EXPECT_TRUE(torch::allclose(params[0].grad(), torch::full({4, 3}, 2.0f)));
  EXPECT_TRUE(torch::allclose(params[1].grad(), 2 * params[1].detach()));
  for (auto& p : params) {
    bool in_a_buffer = false;
    for (const auto& b : reducer.buffers()) in_a_buffer |= p.grad().is_alias_of(b);
    EXPECT_TRUE(in_a_buffer);
  }
  reducer.zero_grad();
  for (const auto& b : reducer.buffers()) EXPECT_EQ(b.abs().sum().item<double>(), 0.0);
}

TEST(GradientReducer, BucketsCutAtTheByteCap) {
  SingleProcessCommunicator comm;
  auto params = make_params();
  GradientReducerOptions options;
  options.bucket_bytes = 20;  // the 5-float (20 B) param closes a bucket; 12 floats another
  EXPECT_EQ(GradientReducer(comm, params, options).bucket_count(), 3u);
  options.bucket_bytes = 1 << 20;
  EXPECT_EQ(GradientReducer(comm, params, options).bucket_count(), 2u);  // one per dtype
}

TEST(GradientReducer, DetachedGradIsReportedAndZeroGradRepairsIt) {
  SingleProcessCommunicator comm;
  auto params = make_params();
  GradientReducer reducer(comm, params);
  params[1].mutable_grad() = torch::Tensor();  // what optimizer.zero_grad(set_to_none) does
  params[1].sum().backward();
  EXPECT_THROW(reducer.reduce(), std::logic_error);
  reducer.zero_grad();
  params[1].sum().backward();
  EXPECT_NO_THROW(reducer.reduce());
  EXPECT_TRUE(torch::allclose(params[1].grad(), torch::ones({5})));
}

}  // namespace
}  // namespace simcsepp::cluster
