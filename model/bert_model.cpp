// bert_model.cpp - BERT embeddings, post-LN encoder layers and weight initialisation.
#include "model/bert_model.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "model/dropout_masks.h"
#include "model/linear.h"

namespace simcsepp::model {

namespace nn = torch::nn;

// ---------------------------------------------------------------------------------------------
// Embeddings

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& config) : dropout_prob_(config.hidden_dropout_prob) {
  word_embeddings = register_module(
      "word_embeddings",
      nn::Embedding(nn::EmbeddingOptions(config.vocab_size, config.hidden_size).padding_idx(config.pad_token_id)));
  position_embeddings =
      register_module("position_embeddings", nn::Embedding(config.max_position_embeddings, config.hidden_size));
  token_type_embeddings =
      register_module("token_type_embeddings", nn::Embedding(config.type_vocab_size, config.hidden_size));
  LayerNorm = register_module("LayerNorm",
                              nn::LayerNorm(nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps)));
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& input_ids, int64_t dropout_rows) {
  const int64_t length = input_ids.size(1);
  TORCH_CHECK(length <= position_embeddings->weight.size(0), "sequence length ", length,
              " exceeds max_position_embeddings ", position_embeddings->weight.size(0));
  // Same summation order as transformers: (word + token type) + position.
  auto x = word_embeddings(input_ids) + token_type_embeddings->weight[0];
  x = x + position_embeddings->weight.narrow(0, 0, length);
  return apply_dropout_rows(LayerNorm(x), dropout_prob_, dropout_rows, DropoutShape::kHidden);
}

// ---------------------------------------------------------------------------------------------
// Attention

BertSelfAttentionImpl::BertSelfAttentionImpl(const BertConfig& config)
    : num_heads_(config.num_attention_heads), dropout_prob_(config.attention_probs_dropout_prob) {
  query = register_module("query", nn::Linear(config.hidden_size, config.hidden_size));
  key = register_module("key", nn::Linear(config.hidden_size, config.hidden_size));
  value = register_module("value", nn::Linear(config.hidden_size, config.hidden_size));
}

torch::Tensor BertSelfAttentionImpl::forward(const torch::Tensor& hidden, const torch::Tensor& keep_mask,
                                             int64_t dropout_rows) {
  const int64_t batch = hidden.size(0), length = hidden.size(1), width = hidden.size(2);
  auto heads = [&](const torch::Tensor& t) { return t.view({batch, length, num_heads_, -1}).transpose(1, 2); };
  const int64_t on = std::clamp<int64_t>(dropout_rows, 0, batch);
  if (on > 0 && dropout_prob_ > 0.0 && keyed_dropout_active()) {
    // Test-only keyed masks (dropout_masks.h) need the probabilities SDPA keeps internal.
    const auto q = heads(apply_linear(query, hidden)), k = heads(apply_linear(key, hidden));
    auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));
    scores = scores.masked_fill(keep_mask.logical_not(), -std::numeric_limits<double>::infinity());
    const auto probs = apply_dropout_rows(torch::softmax(scores, -1), dropout_prob_, on, DropoutShape::kAttention);
    return torch::matmul(probs, heads(apply_linear(value, hidden))).transpose(1, 2).reshape({batch, length, width});
  }
  // SDPA picks the fused kernel (flash / memory-efficient on CUDA, flash on CPU); its attention
  // dropout draws from the default generator, like every other dropout here. Its dropout
  // probability is per call: with dropout on some rows only, the on rows and the off rows are two
  // calls on the same projections (the on call's draws are those of a call of just those rows).
  const auto q = heads(apply_linear(query, hidden)), k = heads(apply_linear(key, hidden)),
             v = heads(apply_linear(value, hidden));
  const double p = on > 0 ? dropout_prob_ : 0.0;
  torch::Tensor context;
  if (on == 0 || on == batch || p == 0.0) {
    context = at::scaled_dot_product_attention(q, k, v, keep_mask, p, /*is_causal=*/false);
  } else {
    const auto rows = [&](const torch::Tensor& t, int64_t first, int64_t n) { return t.narrow(0, first, n); };
    const int64_t off = batch - on;
    context = torch::cat({at::scaled_dot_product_attention(rows(q, 0, on), rows(k, 0, on), rows(v, 0, on),
                                                           rows(keep_mask, 0, on), p, false),
                          at::scaled_dot_product_attention(rows(q, on, off), rows(k, on, off), rows(v, on, off),
                                                           rows(keep_mask, on, off), 0.0, false)},
                         0);
  }
  return context.transpose(1, 2).reshape({batch, length, width});
}

BertResidualOutputImpl::BertResidualOutputImpl(int64_t in_features, const BertConfig& config)
    : dropout_prob_(config.hidden_dropout_prob) {
  dense = register_module("dense", nn::Linear(in_features, config.hidden_size));
  LayerNorm = register_module("LayerNorm",
                              nn::LayerNorm(nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps)));
}

torch::Tensor BertResidualOutputImpl::forward(const torch::Tensor& x, const torch::Tensor& residual,
                                              int64_t dropout_rows) {
  return LayerNorm(apply_dropout_rows(apply_linear(dense, x), dropout_prob_, dropout_rows, DropoutShape::kHidden) +
                   residual);
}

BertAttentionImpl::BertAttentionImpl(const BertConfig& config) {
  self = register_module("self", BertSelfAttention(config));
  output = register_module("output", BertResidualOutput(config.hidden_size, config));
}

torch::Tensor BertAttentionImpl::forward(const torch::Tensor& hidden, const torch::Tensor& keep_mask,
                                         int64_t dropout_rows) {
  return output(self(hidden, keep_mask, dropout_rows), hidden, dropout_rows);
}

// ---------------------------------------------------------------------------------------------
// Feed-forward, layer, encoder

BertIntermediateImpl::BertIntermediateImpl(const BertConfig& config) {
  dense = register_module("dense", nn::Linear(config.hidden_size, config.intermediate_size));
}

torch::Tensor BertIntermediateImpl::forward(const torch::Tensor& hidden) {
  return torch::gelu(apply_linear(dense, hidden));  // approximate="none": exact erf GELU, as BERT's "gelu"
}

BertLayerImpl::BertLayerImpl(const BertConfig& config) {
  attention = register_module("attention", BertAttention(config));
  intermediate = register_module("intermediate", BertIntermediate(config));
  output = register_module("output", BertResidualOutput(config.intermediate_size, config));
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& hidden, const torch::Tensor& keep_mask, int64_t dropout_rows) {
  auto attended = attention(hidden, keep_mask, dropout_rows);
  return output(intermediate(attended), attended, dropout_rows);
}

BertEncoderImpl::BertEncoderImpl(const BertConfig& config) {
  layer = register_module("layer", nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) layer->push_back(BertLayer(config));
}

// ---------------------------------------------------------------------------------------------
// Model

BertModelImpl::BertModelImpl(const BertConfig& config) : config_(config) {
  config_.validate("BertConfig");
  embeddings = register_module("embeddings", BertEmbeddings(config_));
  encoder = register_module("encoder", BertEncoder(config_));
  init_bert_weights(*this, config_);
}

BertOutput BertModelImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, bool dropout,
                                  bool want_first_layer_output, const torch::Tensor& first_position) {
  TORCH_CHECK(input_ids.dim() == 2, "input_ids must be [batch, length]");
  return forward_rows(input_ids, attention_mask, dropout ? input_ids.size(0) : 0, want_first_layer_output,
                      first_position);
}

BertOutput BertModelImpl::forward_rows(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                       int64_t dropout_rows, bool want_first_layer_output,
                                       const torch::Tensor& first_position) {
  TORCH_CHECK(input_ids.dim() == 2 && attention_mask.sizes() == input_ids.sizes(),
              "input_ids and attention_mask must both be [batch, length]");
  const bool dropout = dropout_rows > 0;
  // Key-padding mask broadcast over heads and queries; bool keeps it valid under any autocast dtype.
  const auto keep_mask = attention_mask.to(torch::kBool).view({input_ids.size(0), 1, 1, input_ids.size(1)});
  if (dropout) begin_keyed_dropout_call();  // counts calls only in the test-only keyed mode
  BertOutput out;
  auto hidden = embeddings(input_ids, dropout_rows);
  if (first_position.defined()) {
    TORCH_CHECK(first_position.dim() == 2 && first_position.size(0) == hidden.size(0) &&
                    first_position.size(1) == hidden.size(2),
                "first_position must be [batch, hidden]");
    hidden = torch::cat({first_position.to(hidden.scalar_type()).unsqueeze(1), hidden.narrow(1, 1, hidden.size(1) - 1)}, 1);
  }
  for (size_t i = 0; i < encoder->layer->size(); ++i) {
    hidden = encoder->layer[i]->as<BertLayer>()->forward(hidden, keep_mask, dropout_rows);
    if (i == 0 && want_first_layer_output) out.first_layer_output = hidden;
  }
  out.last_hidden_state = hidden;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Initialisation

void init_bert_weights(torch::nn::Module& module, const BertConfig& config, std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  const auto normal = [&](torch::Tensor& w) {
    if (generator)
      w.normal_(0.0, config.initializer_range, *generator);
    else
      w.normal_(0.0, config.initializer_range);
  };
  // Children only: the module itself may be under construction (not yet in a shared_ptr).
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* linear = m->as<nn::Linear>()) {
      normal(linear->weight);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* embedding = m->as<nn::Embedding>()) {
      normal(embedding->weight);
      if (auto pad = embedding->options.padding_idx()) embedding->weight[*pad].zero_();
    } else if (auto* norm = m->as<nn::LayerNorm>()) {
      norm->weight.fill_(1.0);
      norm->bias.zero_();
    }
  }
}

}  // namespace simcsepp::model
