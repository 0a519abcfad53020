// rtd_corruption_test.cpp - DiffCSE's masking rule (model/rtd_corruption.h) on many tokens: the
// selected share and the 80/10/10 split within binomial bounds, special tokens and padding never
// touched, a row's mask a function of its key alone; and replace_tokens' labels on a tiny
// generator whose argmax is known.
#include "model/rtd_corruption.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "base/error.h"

namespace simcsepp::model {
namespace {

// Rows of [CLS] w... [SEP] [PAD]...: 1000 rows x 40 positions, 30 words each.
struct Batch {
  torch::Tensor ids, mask;
};
Batch make_batch() {
  const int64_t rows = 1000, len = 40, words = 30;
  auto ids = torch::zeros({rows, len}, torch::kLong);
  auto mask = torch::zeros({rows, len}, torch::kLong);
  auto g = at::make_generator<at::CPUGeneratorImpl>(7);
  ids.narrow(1, 1, words).copy_(torch::randint(1000, 5000, {rows, words}, g, torch::kLong));
  ids.select(1, 0).fill_(101);
  ids.select(1, words + 1).fill_(102);
  mask.narrow(1, 0, words + 2).fill_(1);
  ids.select(1, 5).fill_(100);  // an [UNK] in every row
  return {ids, mask};
}

TEST(RtdMasking, SelectsTheRatioAndSplits80_10_10AmongOrdinaryTokensOnly) {
  const Batch b = make_batch();
  RtdMaskingOptions o;
  o.ratio = 0.3;
  const auto keys = [](uint64_t base) {
    std::vector<uint64_t> k(1000);
    for (size_t i = 0; i < k.size(); ++i) k[i] = base + 7919 * i;
    return k;
  };
  const auto masked = mask_for_rtd(b.ids, b.mask, o, keys(1234));
  const auto changed_or_masked = masked.ne(b.ids);
  // Special tokens ([CLS], [SEP], [UNK]) and padding never change.
  for (int64_t c : {0, 5, 31}) EXPECT_TRUE(masked.select(1, c).equal(b.ids.select(1, c))) << "column " << c;
  EXPECT_TRUE(masked.narrow(1, 32, 8).eq(0).all().item<bool>());
  const double candidates = 1000.0 * 29;  // 30 words minus the [UNK]
  const double as_mask = masked.eq(o.mask_id).sum().item<double>();
  // Random draws land on the original id with probability 1/30522: "changed, not [MASK]" is the random share.
  const double random = (changed_or_masked & masked.ne(o.mask_id)).sum().item<double>();
  const auto within = [](double got, double n, double p) {  // 5 standard deviations of a binomial
    return std::abs(got - n * p) <= 5 * std::sqrt(n * p * (1 - p));
  };
  EXPECT_TRUE(within(as_mask, candidates, 0.3 * 0.8)) << as_mask;
  EXPECT_TRUE(within(random, candidates, 0.3 * 0.1)) << random;
  // The same keys give the same masks, other keys others; a row's mask depends on its key only
  // (rows 10..19 alone, with their keys, get the masks they got in the whole batch).
  EXPECT_TRUE(mask_for_rtd(b.ids, b.mask, o, keys(1234)).equal(masked));
  EXPECT_FALSE(mask_for_rtd(b.ids, b.mask, o, keys(1235)).equal(masked));
  const auto k = keys(1234);
  const std::vector<uint64_t> part(k.begin() + 10, k.begin() + 20);
  EXPECT_TRUE(mask_for_rtd(b.ids.narrow(0, 10, 10), b.mask.narrow(0, 10, 10), o, part).equal(masked.narrow(0, 10, 10)));
  o.ratio = 1.5;
  EXPECT_THROW(mask_for_rtd(b.ids, b.mask, o, keys(1)), Error);
}

TEST(RtdReplaceTokens, LabelsArePositionsWhereTheGeneratorsArgmaxDiffers) {
  BertConfig c;
  c.vocab_size = 16, c.hidden_size = 8, c.num_hidden_layers = 1, c.num_attention_heads = 2, c.intermediate_size = 16;
  c.max_position_embeddings = 8;
  MlmGenerator gen(c, "bert");
  torch::NoGradGuard no_grad;
  for (auto& p : gen->parameters()) p.zero_();
  // Zero weights: every position's logits are the output bias, so the argmax is token 9 everywhere.
  gen->output_bias[9] = 1.0;
  const auto ids = torch::tensor({{1, 9, 4, 2, 0}, {1, 5, 9, 9, 2}}, torch::kLong);
  const auto mask = torch::tensor({{1, 1, 1, 1, 0}, {1, 1, 1, 1, 1}}, torch::kLong);
  const auto r = replace_tokens(gen, ids, mask, ids, false);
  EXPECT_TRUE(r.ids.equal(torch::tensor({{1, 9, 9, 9, 0}, {1, 9, 9, 9, 9}}, torch::kLong)));
  EXPECT_TRUE(r.replaced.equal(torch::tensor({{0, 0, 1, 1, 0}, {0, 1, 0, 0, 1}}, torch::kLong)));
}

}  // namespace
}  // namespace simcsepp::model
