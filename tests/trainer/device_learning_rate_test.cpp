// device_learning_rate_test.cpp - the learning rate as a device tensor (issue 14: what a captured
// step needs, since a graph cannot take a new host value each replay): the schedule computed from
// a tensor counter and AdamW reading the rate from a tensor must give exactly today's update. On
// CPU both are float64, so "exactly" is bit for bit.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>

#include "trainer/adamw.h"
#include "trainer/lr_schedule.h"

namespace simcsepp::trainer {
namespace {

TEST(DeviceLearningRate, ScheduleTensorEqualsHostScheduleBitForBit) {
  for (const int64_t warmup : {0, 1, 3, 7}) {
    for (const int64_t total : {1, 10, 125, 1000003}) {
      const LinearSchedule s(3e-5, warmup, total);
      for (const int64_t u : {int64_t{0}, int64_t{1}, int64_t{2}, warmup - 1, warmup, warmup + 1, total / 2, total - 1,
                              total, total + 5}) {
        if (u < 0) continue;
        const double device = s.lr_tensor(torch::full({}, static_cast<double>(u), torch::kDouble)).item<double>();
        EXPECT_EQ(device, s.lr_at(u)) << "warmup " << warmup << " total " << total << " update " << u;
      }
    }
  }
}

struct Params {
  std::vector<torch::Tensor> p;
};

Params make_params(torch::ScalarType dtype) {
  torch::manual_seed(7);
  Params out;
  for (const auto& shape : {std::vector<int64_t>{5, 3}, std::vector<int64_t>{3}, std::vector<int64_t>{2, 2, 2}}) {
    out.p.push_back(torch::randn(shape, torch::TensorOptions().dtype(dtype)).requires_grad_(true));
  }
  return out;
}

// Five updates with changing rates and gradients, the third one skipped (skip flag 1).
std::vector<torch::Tensor> run(torch::ScalarType dtype, bool tensor_lr, double lr_bump = 0.0) {
  auto params = make_params(dtype);
  AdamW opt(params.p, {.lr = 1e-3, .weight_decay = 0.01});
  const LinearSchedule schedule(1e-3, 2, 5);
  auto counter = torch::zeros({}, torch::kDouble);
  for (int64_t u = 0; u < 5; ++u) {
    torch::manual_seed(100 + u);
    for (auto& t : params.p) t.mutable_grad() = torch::randn_like(t);
    const auto skip = torch::full({}, u == 2 ? 1.0f : 0.0f);
    if (tensor_lr) {
      opt.step(schedule.lr_tensor(counter) + lr_bump, skip);
    } else {
      opt.step(schedule.lr_at(u) + lr_bump, skip);
    }
    counter.add_(1);
  }
  auto out = params.p;
  for (const auto& s : opt.state()) out.push_back(s);
  return out;
}

TEST(DeviceLearningRate, AdamWWithATensorRateEqualsTheHostRateBitForBit) {
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    const auto host = run(dtype, false);
    const auto device = run(dtype, true);
    ASSERT_EQ(host.size(), device.size());
    for (size_t i = 0; i < host.size(); ++i) EXPECT_TRUE(torch::equal(host[i], device[i])) << "tensor " << i;
    // The comparison sees a rate a few ulps of the parameters' precision away (so the equality
    // above is not vacuous): 1e-6 relative in float32, 1e-14 in float64.
    const auto bumped = run(dtype, true, 1e-3 * (dtype == torch::kFloat ? 1e-6 : 1e-14));
    bool any_differs = false;
    for (size_t i = 0; i < host.size(); ++i) any_differs = any_differs || !torch::equal(host[i], bumped[i]);
    EXPECT_TRUE(any_differs) << c10::toString(dtype);
  }
}

TEST(DeviceLearningRate, RefusesARateOfAnotherPrecision) {
  auto params = make_params(torch::kFloat);
  AdamW opt(params.p, {});
  for (auto& t : params.p) t.mutable_grad() = torch::ones_like(t);
  // float32 on CPU would round 3e-5 before the CPU kernel's float64 arithmetic: not today's update.
  EXPECT_THROW(opt.step(torch::full({}, 3e-5, torch::kFloat), torch::zeros({})), std::logic_error);
  EXPECT_EQ(AdamW::lr_dtype(torch::kCPU), torch::kDouble);
}

}  // namespace
}  // namespace simcsepp::trainer
