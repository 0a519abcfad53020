// flop_count_test.cpp - hand-computed FLOP counts, the encoder calls of each objective, and the
// peak table. The independent check against torch.utils.flop_counter on transformers' BertModel
// is tests/python/model_flop_parity.py.
#include "model/flop_count.h"

#include <gtest/gtest.h>

#include "base/error.h"

using namespace simcsepp::model;

namespace {

// H = 4, I = 8, 2 layers (heads do not change the count).
BertConfig tiny() {
  BertConfig c;
  c.hidden_size = 4;
  c.num_attention_heads = 2;
  c.intermediate_size = 8;
  c.num_hidden_layers = 2;
  return c;
}

ObjectiveConfig objective(const std::string& spec) { return parse_objective(spec); }

}  // namespace

// L = 3, per sequence and layer:
//   Q,K,V,O  4 * 2*L*H*H = 4 * 2*3*4*4 = 384
//   QK^T, PV 2 * 2*L*L*H = 2 * 2*3*3*4 = 144
//   FFN      2 * 2*L*H*I = 2 * 2*3*4*8 = 384
//   = 912, x 2 layers = 1824 per sequence; 2 sequences: 3648.
//   MLP head (cls): 2*H*H = 32 per sequence -> 3648 + 64 = 3712.
TEST(FlopCount, TinyEncoderByHand) {
  EXPECT_DOUBLE_EQ(encoder_forward_flops(tiny(), 2, 3, Pooler::kClsBeforePooler), 3648.0);
  EXPECT_DOUBLE_EQ(encoder_forward_flops(tiny(), 2, 3, Pooler::kAvg), 3648.0);
  EXPECT_DOUBLE_EQ(encoder_forward_flops(tiny(), 2, 3, Pooler::kAvgFirstLast), 3648.0);
  EXPECT_DOUBLE_EQ(encoder_forward_flops(tiny(), 2, 3, Pooler::kCls), 3712.0);
  EXPECT_DOUBLE_EQ(encoder_forward_flops(tiny(), 2, 3), 3712.0);  // default pooler: cls
  EXPECT_DOUBLE_EQ(encoder_forward_flops(tiny(), 0, 3), 0.0);
}

// bert-base (H 768, I 3072, 12 layers), one sequence of 128 tokens:
//   8*128*768^2 = 603,979,776; 4*128^2*768 = 50,331,648; 4*128*768*3072 = 1,207,959,552
//   = 1,862,270,976 per layer, x 12 = 22,347,251,712 (~ 2 x 85M non-embedding params x 128 tokens
//   + attention). Linear in the number of sequences.
TEST(FlopCount, BertBaseByHand) {
  const BertConfig base;
  EXPECT_DOUBLE_EQ(encoder_forward_flops(base, 1, 128, Pooler::kAvg), 22347251712.0);
  EXPECT_DOUBLE_EQ(encoder_forward_flops(base, 64, 128, Pooler::kAvg), 64 * 22347251712.0);
  EXPECT_DOUBLE_EQ(encoder_forward_flops(base, 1, 128, Pooler::kCls), 22347251712.0 + 2.0 * 768 * 768);
}

TEST(FlopCount, ObjectiveEncoderCallsFollowEncodeViews) {
  auto calls = objective_encoder_calls(objective("simcse"), 8, 1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].sequences, 16);
  EXPECT_TRUE(calls[0].dropout_on);
  EXPECT_TRUE(calls[0].with_grad);

  calls = objective_encoder_calls(objective("simcse++"), 8, 1);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].sequences, 8);
  EXPECT_FALSE(calls[1].dropout_on);
  EXPECT_TRUE(calls[1].with_grad);

  calls = objective_encoder_calls(objective("supervised"), 8, 3);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].sequences, 24);
  calls = objective_encoder_calls(objective("supervised+off-dropout"), 8, 2);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].sequences, 16);
  EXPECT_EQ(calls[1].sequences, 16);
  EXPECT_FALSE(calls[1].dropout_on);
  // A fourth column is not encoded (encode_views uses at most 3).
  EXPECT_EQ(objective_encoder_calls(objective("supervised"), 8, 4)[0].sequences, 24);
  // Unsupervised objectives read column 0 only.
  EXPECT_EQ(objective_encoder_calls(objective("simcse"), 8, 3)[0].sequences, 16);
}

// Tiny config, N = 2, L = 3; forward of one sequence with the cls head = 1824 + 32 = 1856.
//   simcse:        one call on 4 sequences, fwd+bwd 3x: 3 * 4 * 1856 = 22,272
//   simcse++:      + off-dropout call on 2:             + 3 * 2 * 1856 = 33,408
//   supervised+off-dropout, 3 columns: 2 calls on 6:    2 * 3 * 6 * 1856 = 66,816
//   simcse with pooler avg (no head): 3 * 4 * 1824 = 21,888
TEST(FlopCount, TrainingStepByHand) {
  EXPECT_DOUBLE_EQ(training_step_flops(tiny(), objective("simcse"), 2, 3, 1), 22272.0);
  EXPECT_DOUBLE_EQ(training_step_flops(tiny(), objective("simcse++"), 2, 3, 1), 33408.0);
  EXPECT_DOUBLE_EQ(training_step_flops(tiny(), objective("off-dropout"), 2, 3, 1), 33408.0);
  EXPECT_DOUBLE_EQ(training_step_flops(tiny(), objective("dcl"), 2, 3, 1), 22272.0);  // DCL: no extra call
  EXPECT_DOUBLE_EQ(training_step_flops(tiny(), objective("supervised+off-dropout"), 2, 3, 3), 66816.0);
  EXPECT_DOUBLE_EQ(training_step_flops(tiny(), objective("supervised+off-dropout+dcl"), 2, 3, 3), 66816.0);
  EXPECT_DOUBLE_EQ(training_step_flops(tiny(), objective("simcse"), 2, 3, 1, Pooler::kAvg), 21888.0);
}

// DiffCSE on 1 sentence of L = 3 (2 edited copies, 6 tokens), generator and discriminator tiny():
//   generator encoder 3648 (1x) + MLM head 6 * 2*H*(H + V) = 6 * 8 * 30526 = 1465248
//   discriminator 3 * (encoder 3648 + head 6 * 2*H*2 = 96) = 11232             -> 1480128.
TEST(FlopCount, RtdStepByHand) {
  EXPECT_DOUBLE_EQ(rtd_step_flops(tiny(), tiny(), 1, 3), 1480128.0);
  BertConfig small_vocab = tiny();
  small_vocab.vocab_size = 10;
  EXPECT_DOUBLE_EQ(rtd_step_flops(small_vocab, tiny(), 1, 3), 3648.0 + 6 * 8 * 14 + 11232.0);
}

TEST(FlopCount, BadSizesAreErrors) {
  EXPECT_THROW(training_step_flops(tiny(), objective("supervised"), 2, 3, 1), simcsepp::Error);
  EXPECT_THROW(encoder_forward_flops(tiny(), -1, 3), simcsepp::Error);
  EXPECT_THROW(encoder_forward_flops(tiny(), 1, -3), simcsepp::Error);
  EXPECT_THROW(training_step_flops(tiny(), objective("simcse"), -2, 3, 1), simcsepp::Error);
}

TEST(FlopCount, PeakOfKnownGpusDense) {
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA H100 80GB HBM3", true), 989.4e12);
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA H100 80GB HBM3", false), 494.7e12);
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA H100 PCIe", true), 756e12);
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA H100 PCIe", false), 378e12);
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA H200", true), 989.4e12);
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA H200", false), 494.7e12);
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA A100-SXM4-80GB", true), 312e12);
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA A100-SXM4-40GB", false), 156e12);
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA A100 80GB PCIe", true), 312e12);
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA A100-PCIE-40GB", true), 312e12);
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA L40S", true), 362.05e12);
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA L4", true), 121e12);
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA A10", true), 125e12);
  EXPECT_DOUBLE_EQ(peak_flops_per_second("NVIDIA A10", false), 62.5e12);
}

TEST(FlopCount, UnknownDevicesGiveZero) {
  for (const char* name : {"", "cpu", "Tesla V100-SXM2-16GB", "NVIDIA A10G", "NVIDIA L40", "NVIDIA H100 NVL",
                           "NVIDIA H200 NVL", "NVIDIA GH200 480GB", "NVIDIA GeForce RTX 4090", "AMD Instinct MI300X"}) {
    EXPECT_EQ(peak_flops_per_second(name, true), 0.0) << name;
    EXPECT_EQ(peak_flops_per_second(name, false), 0.0) << name;
  }
}
