// attention_backend_test.cpp - --attention-backend on the CPU: names, torch's switches, the probe
// that names the kernel torch will run, the refusal of a backend that cannot run the encoder's
// masked attention, and that the choice really changes the kernel without changing the result.
// The GPU comparison of every backend against math is tests/model/cuda/.
#include "model/attention_backend.h"

#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "base/error.h"
#include "model/bert_model.h"

namespace simcsepp::model {
namespace {

// torch's SDPA switches are process-wide: every test leaves them as it found them.
class AttentionBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& c = at::globalContext();
    saved_ = {c.userEnabledFlashSDP(), c.userEnabledMemEfficientSDP(), c.userEnabledMathSDP(), c.userEnabledCuDNNSDP()};
  }
  void TearDown() override {
    auto& c = at::globalContext();
    c.setSDPUseFlash(saved_[0]);
    c.setSDPUseMemEfficient(saved_[1]);
    c.setSDPUseMath(saved_[2]);
    c.setSDPUseCuDNN(saved_[3]);
  }
  std::array<bool, 4> saved_{};
};

TEST_F(AttentionBackendTest, NamesRoundTripAndUnknownNamesAreRefused) {
  for (const char* n : {"auto", "efficient", "flash", "cudnn", "math"}) EXPECT_EQ(to_string(parse_attention_backend(n)), n);
  try {
    parse_attention_backend("fast");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown attention backend 'fast'"), std::string::npos) << e.what();
    EXPECT_EQ(e.where(), "--attention-backend");
  }
}

TEST_F(AttentionBackendTest, AutoLeavesTheCpuAloneAndTurnsCudnnOffOnCuda) {
  auto& c = at::globalContext();
  c.setSDPUseCuDNN(true);
  c.setSDPUseFlash(true);
  select_attention_backend(AttentionBackend::kAuto, torch::kCPU);
  EXPECT_TRUE(c.userEnabledCuDNNSDP() && c.userEnabledFlashSDP());  // untouched on a CPU
  select_attention_backend(AttentionBackend::kAuto, torch::Device(torch::kCUDA, 0));  // flags only: no GPU needed
  EXPECT_FALSE(c.userEnabledCuDNNSDP());
  EXPECT_FALSE(c.userEnabledFlashSDP());
  EXPECT_TRUE(c.userEnabledMemEfficientSDP());
  EXPECT_TRUE(c.userEnabledMathSDP());
  select_attention_backend(AttentionBackend::kMath, torch::Device(torch::kCUDA, 0));
  EXPECT_TRUE(c.userEnabledMathSDP() && !c.userEnabledMemEfficientSDP() && !c.userEnabledCuDNNSDP() &&
              !c.userEnabledFlashSDP());
}

TEST_F(AttentionBackendTest, ProbeNamesTheKernelAndAnImpossibleChoiceIsRefused) {
  EXPECT_EQ(configure_attention(AttentionBackend::kMath, torch::kCPU, torch::kFloat, 4, 8, 32, true), "math");
  // The CPU has no memory-efficient kernel: refused at start, naming the option.
  try {
    configure_attention(AttentionBackend::kEfficient, torch::kCPU, torch::kFloat, 4, 8, 32, true);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot run this model's attention"), std::string::npos) << e.what();
    EXPECT_EQ(e.where(), "--attention-backend");
  }
  select_attention_backend(AttentionBackend::kFlash, torch::kCPU);
  EXPECT_NE(probe_attention_backend(torch::kCPU, torch::kFloat, 4, 8, 32, false), "math");
}

// The encoder under math and under torch's CPU choice (flash on a CPU): different kernels, the
// same hidden states and gradients. float64, so the bound is about the algebra, not the CPU's
// fp32 summation order (fp32 differed by 2e-5 here): 1e-10 of values of order 1.
TEST_F(AttentionBackendTest, EncoderGivesTheSameResultUnderEveryCpuKernel) {
  BertConfig cfg;
  cfg.vocab_size = 64;
  cfg.hidden_size = 32;
  cfg.num_hidden_layers = 2;
  cfg.num_attention_heads = 4;
  cfg.intermediate_size = 64;
  cfg.max_position_embeddings = 16;
  torch::manual_seed(0);
  BertModel bert(cfg);
  bert->to(torch::kDouble);
  auto ids = torch::randint(5, 64, {3, 12}, torch::kLong);
  auto mask = torch::ones({3, 12}, torch::kLong);
  mask.index_put_({1, torch::indexing::Slice(7)}, 0);
  mask.index_put_({2, torch::indexing::Slice(3)}, 0);
  auto run = [&](AttentionBackend b) {
    select_attention_backend(b, torch::kCPU);
    for (auto& p : bert->parameters()) p.mutable_grad() = torch::Tensor();
    auto h = bert->forward(ids, mask, /*dropout=*/false).last_hidden_state;
    (h * h).sum().backward();
    std::vector<torch::Tensor> out = {h.detach().clone()};
    for (auto& p : bert->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  const auto chosen = probe_attention_backend(torch::kCPU, torch::kDouble, 4, 8, 12, false);
  const auto by_torch = run(AttentionBackend::kAuto);
  const auto by_math = run(AttentionBackend::kMath);
  ASSERT_EQ(probe_attention_backend(torch::kCPU, torch::kDouble, 4, 8, 12, false), "math");
  EXPECT_NE(chosen, "math") << "torch's CPU choice should be another kernel, or the comparison proves nothing";
  for (size_t i = 0; i < by_math.size(); ++i) {
    const double scale = std::max(1.0, by_math[i].abs().max().item<double>());
    EXPECT_LE((by_torch[i] - by_math[i]).abs().max().item<double>(), 1e-10 * scale) << "tensor " << i << " (" << chosen << ")";
  }
}

}  // namespace
}  // namespace simcsepp::model
