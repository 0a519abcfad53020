// rtd_corruption.cpp - see rtd_corruption.h.
#include "model/rtd_corruption.h"

#include <torch/torch.h>

#include "cluster/base/error.h"

namespace simcsepp::model {

torch::Tensor mask_for_rtd(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                           const RtdMaskingOptions& options, at::Generator generator) {
  if (!(options.ratio >= 0.0 && options.ratio <= 1.0)) {
    throw Error("masking ratio " + std::to_string(options.ratio) + " is outside [0, 1]", "--rtd-mask-ratio",
                "the paper masks 0.3 of the tokens for BERT-base");
  }
  const auto cpu_ids = ids.to(torch::kCPU, torch::kLong);
  const auto cpu_mask = attention_mask.to(torch::kCPU, torch::kLong);
  auto candidate = cpu_mask.to(torch::kBool);
  for (const int64_t s : options.special_ids) candidate &= cpu_ids.ne(s);
  const auto opts = torch::TensorOptions().dtype(torch::kFloat);
  // Three draws in the collator's order: selection, [MASK] (0.8), random among the rest (0.5).
  const auto selected = torch::rand(cpu_ids.sizes(), generator, opts).lt(options.ratio) & candidate;
  const auto to_mask = torch::rand(cpu_ids.sizes(), generator, opts).lt(0.8) & selected;
  const auto to_random = torch::rand(cpu_ids.sizes(), generator, opts).lt(0.5) & selected & ~to_mask;
  const auto random_ids = torch::randint(options.vocab_size, cpu_ids.sizes(), generator, torch::kLong);
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
