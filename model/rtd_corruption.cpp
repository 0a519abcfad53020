// rtd_corruption.cpp - see rtd_corruption.h.
#include "model/rtd_corruption.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "base/error.h"

namespace simcsepp::model {

torch::Tensor mask_for_rtd(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                           const RtdMaskingOptions& options, const std::vector<uint64_t>& row_keys) {
  if (!(options.ratio >= 0.0 && options.ratio <= 1.0)) {
    throw Error("masking ratio " + std::to_string(options.ratio) + " is outside [0, 1]", "--rtd-mask-ratio",
                "the paper masks 0.3 of the tokens for BERT-base");
  }
  SIMCSEPP_CHECK(static_cast<int64_t>(row_keys.size()) == ids.size(0), "one key per row");
  const auto cpu_ids = ids.to(torch::kCPU, torch::kLong);
  const auto cpu_mask = attention_mask.to(torch::kCPU, torch::kLong);
  auto candidate = cpu_mask.to(torch::kBool);
  for (const int64_t s : options.special_ids) candidate &= cpu_ids.ne(s);
  const int64_t rows = ids.size(0), len = ids.size(1);
  auto u = torch::empty({3, rows, len}, torch::kFloat);
  auto random_ids = torch::empty({rows, len}, torch::kLong);
  for (int64_t r = 0; r < rows; ++r) {
    auto g = at::make_generator<at::CPUGeneratorImpl>(row_keys[static_cast<size_t>(r)]);
    // Three draws in the collator's order: selection, [MASK] (0.8), random among the rest (0.5).
    for (int64_t k = 0; k < 3; ++k) u[k][r].copy_(torch::rand({len}, g, torch::kFloat));
    random_ids[r].copy_(torch::randint(options.vocab_size, {len}, g, torch::kLong));
  }
  const auto selected = u[0].lt(options.ratio) & candidate;
  const auto to_mask = u[1].lt(0.8) & selected;
  const auto to_random = u[2].lt(0.5) & selected & ~to_mask;
  auto out = cpu_ids.clone();
  out.masked_fill_(to_mask, options.mask_id);
  out = torch::where(to_random, random_ids, out);
  return out.to(ids.device());
}

ReplacedTokens replace_tokens(MlmGenerator& generator, const torch::Tensor& ids, const torch::Tensor& attention_mask,
                              const torch::Tensor& masked_ids, bool dropout) {
  torch::NoGradGuard no_grad;
  auto filled = generator->fill(masked_ids, attention_mask, dropout);
  filled.select(1, 0).copy_(ids.select(1, 0));  // the sentence's own [CLS]
  const auto mask = attention_mask.to(torch::kLong);
  ReplacedTokens out;
  out.ids = filled * mask;
  out.replaced = filled.ne(ids).to(torch::kLong) * mask;
  return out;
}

}  // namespace simcsepp::model
