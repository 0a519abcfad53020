// sentence_encoder.cpp - BERT + MLP head + poolers.
#include "model/sentence_encoder.h"

#include <torch/torch.h>

#include "model/linear.h"
#include "model/loss_precision.h"

namespace simcsepp::model {

namespace {

// Mean over non-padding positions: [B, L, H], [B, L] -> [B, H].
torch::Tensor masked_mean(const torch::Tensor& hidden, const torch::Tensor& attention_mask) {
  const auto mask = attention_mask.to(hidden.scalar_type()).unsqueeze(-1);
  return (hidden * mask).sum(1) / mask.sum(1);
}

}  // namespace

MlpHeadImpl::MlpHeadImpl(int64_t hidden_size) {
  dense = register_module("dense", torch::nn::Linear(hidden_size, hidden_size));
}

torch::Tensor MlpHeadImpl::forward(const torch::Tensor& cls) { return torch::tanh(apply_linear(dense, cls)); }

SentenceEncoderImpl::SentenceEncoderImpl(const BertConfig& config) {
  bert = register_module("bert", BertModel(config));
  mlp = register_module("mlp", MlpHead(config.hidden_size));
  init_bert_weights(*mlp, config);
}

void SentenceEncoderImpl::reset_mlp(uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  // Draw on CPU and copy, so the values do not depend on the device the model lives on.
  torch::NoGradGuard no_grad;
  const auto& weight = mlp->dense->weight;
  auto cpu = torch::empty(weight.sizes(), torch::kFloat32);
  cpu.normal_(0.0, config().initializer_range, generator);
  weight.copy_(cpu);
  mlp->dense->bias.zero_();
}

void SentenceEncoderImpl::add_projector(uint64_t seed) {
  projector = register_module("projector", ProjectionHead(config().hidden_size));
  projector->reset(seed, config().initializer_range);
  projector->to(bert->embeddings->word_embeddings->weight.device(), bert->embeddings->word_embeddings->weight.scalar_type());
}

BertOutput SentenceEncoderImpl::encode(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                       int64_t dropout_rows, bool want_first_layer_output) {
  return bert->forward_rows(input_ids, attention_mask, is_training() ? dropout_rows : 0, want_first_layer_output);
}

torch::Tensor SentenceEncoderImpl::last_hidden_state(const torch::Tensor& input_ids,
                                                     const torch::Tensor& attention_mask, bool dropout_on) {
  return at_least_fp32(encode(input_ids, attention_mask, dropout_on ? input_ids.size(0) : 0, false).last_hidden_state);
}

torch::Tensor SentenceEncoderImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                           Pooler pooler, bool dropout_on) {
  return forward_rows(input_ids, attention_mask, pooler, dropout_on ? input_ids.size(0) : 0);
}

torch::Tensor SentenceEncoderImpl::forward_rows(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                                Pooler pooler, int64_t dropout_rows) {
  const auto output = encode(input_ids, attention_mask, dropout_rows, pooler == Pooler::kAvgFirstLast);
  if (pooler == Pooler::kCls) return at_least_fp32(mlp(output.last_hidden_state.select(1, 0)));
  return at_least_fp32(pool_hidden_states(output, attention_mask, pooler));
}

torch::Tensor pool_hidden_states(const BertOutput& output, const torch::Tensor& attention_mask, Pooler pooler) {
  switch (pooler) {
    case Pooler::kCls:
    case Pooler::kClsBeforePooler:
      return output.last_hidden_state.select(1, 0);
    case Pooler::kAvg:
      return masked_mean(output.last_hidden_state, attention_mask);
    case Pooler::kAvgFirstLast:
      TORCH_CHECK(output.first_layer_output.defined(), "avg_first_last needs the first layer's output");
      return masked_mean((output.first_layer_output + output.last_hidden_state) / 2.0, attention_mask);
  }
  throw std::logic_error("pool_hidden_states: unhandled Pooler value");
}

}  // namespace simcsepp::model
