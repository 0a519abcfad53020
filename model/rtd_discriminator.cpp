// rtd_discriminator.cpp - see rtd_discriminator.h.
#include "model/rtd_discriminator.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

#include "model/hf_checkpoint.h"
#include "model/linear.h"

namespace simcsepp::model {

RtdDiscriminatorImpl::RtdDiscriminatorImpl(const BertConfig& config) {
  bert = register_module("bert", BertModel(config));
  head = register_module("head", torch::nn::Linear(config.hidden_size, 2));
}

torch::Tensor RtdDiscriminatorImpl::forward(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                                            const torch::Tensor& sentence_embedding, bool dropout) {
  const auto hidden = bert->forward(ids, attention_mask, dropout, false, sentence_embedding).last_hidden_state;
  const auto logits = apply_linear(head, hidden);
  // fp32 under autocast; a float64 model (the equivalence tests) stays float64.
  return logits.scalar_type() == torch::kDouble ? logits : logits.to(torch::kFloat);
}

RtdDiscriminator load_rtd_discriminator(const std::string& model_dir, uint64_t seed) {
  auto source = load_hf_model(model_dir);
  RtdDiscriminator d(source->config());
  torch::NoGradGuard no_grad;
  auto params = d->bert->named_parameters(true);
  for (const auto& item : source->bert->named_parameters(true)) params[item.key()].copy_(item.value());
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const double bound = 1.0 / std::sqrt(static_cast<double>(source->config().hidden_size));
  d->head->weight.uniform_(-bound, bound, generator);
  d->head->bias.uniform_(-bound, bound, generator);
  return d;
}

}  // namespace simcsepp::model
