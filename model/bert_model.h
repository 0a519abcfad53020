// bert_model.h - the BERT encoder (transformers' BertModel without its pooler) as libtorch modules.
//
// Embeddings (word + position + token type 0, LayerNorm, dropout) followed by post-LN encoder
// layers: self-attention through at::scaled_dot_product_attention with a key-padding mask, then a
// feed-forward block with exact (erf) GELU. Submodules carry Hugging Face's names
// ("embeddings.word_embeddings", "encoder.layer.3.attention.self.query", ...), so named_parameters()
// are the checkpoint keys and loading is a name lookup.
//
// Dropout: torch's functional dropout (default generator: torch::manual_seed reproduces the
// masks), or the test-only keyed masks of model/dropout_masks.h inside a KeyedDropoutScope;
// applied only when the caller passes dropout=true; the caller decides (training mode AND not an
// off-dropout call), so no module's train/eval state is ever flipped. forward_rows() applies it
// to the leading `dropout_rows` sequences of the batch only (the rest as with dropout=false):
// SimCSE++'s dropout-on and dropout-off sequences in one call, the on rows dropped exactly as a
// call of just those rows would drop them (model/dropout_masks.h apply_dropout_rows). Modules below
// BertModel take that row count (0 = no dropout, >= batch = every row).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "model/bert_config.h"

namespace simcsepp::model {

class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& config);
  // input_ids int64 [B, L] -> [B, L, H]. Token type ids are all 0 (single sentences).
  torch::Tensor forward(const torch::Tensor& input_ids, int64_t dropout_rows);

  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr}, token_type_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};

 private:
  double dropout_prob_;
};
TORCH_MODULE(BertEmbeddings);

// query/key/value projections ("attention.self").
class BertSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit BertSelfAttentionImpl(const BertConfig& config);
  // hidden [B, L, H], keep_mask bool [B, 1, 1, L] (true = attend) -> context [B, L, H].
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& keep_mask, int64_t dropout_rows);

  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};

 private:
  int64_t num_heads_;
  double dropout_prob_;
};
TORCH_MODULE(BertSelfAttention);

// dense -> dropout -> LayerNorm(x + residual): "attention.output" and "output" in HF.
class BertResidualOutputImpl : public torch::nn::Module {
 public:
  BertResidualOutputImpl(int64_t in_features, const BertConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual, int64_t dropout_rows);

  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};

 private:
  double dropout_prob_;
};
TORCH_MODULE(BertResidualOutput);

class BertAttentionImpl : public torch::nn::Module {
 public:
  explicit BertAttentionImpl(const BertConfig& config);
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& keep_mask, int64_t dropout_rows);

  BertSelfAttention self{nullptr};
  BertResidualOutput output{nullptr};
};
TORCH_MODULE(BertAttention);

// "intermediate.dense" + GELU.
class BertIntermediateImpl : public torch::nn::Module {
 public:
  explicit BertIntermediateImpl(const BertConfig& config);
  torch::Tensor forward(const torch::Tensor& hidden);

  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(BertIntermediate);

class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& config);
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& keep_mask, int64_t dropout_rows);

  BertAttention attention{nullptr};
  BertIntermediate intermediate{nullptr};
  BertResidualOutput output{nullptr};
};
TORCH_MODULE(BertLayer);

class BertEncoderImpl : public torch::nn::Module {
 public:
  explicit BertEncoderImpl(const BertConfig& config);
  torch::nn::ModuleList layer{nullptr};
};
TORCH_MODULE(BertEncoder);

struct BertOutput {
  torch::Tensor last_hidden_state;   // [B, L, H]
  torch::Tensor first_layer_output;  // [B, L, H], output of layer 0 (defined only if requested)
};

class BertModelImpl : public torch::nn::Module {
 public:
  explicit BertModelImpl(const BertConfig& config);
  // input_ids, attention_mask: int64 [B, L] (mask 1 = token, 0 = padding).
  // first_position [B, H] (optional): replaces the embedding output at position 0 (after the
  // embedding LayerNorm and dropout) - DiffCSE's discriminator is conditioned on the sentence
  // embedding this way (the official modeling_bert.py's cls_input).
  BertOutput forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, bool dropout,
                     bool want_first_layer_output = false, const torch::Tensor& first_position = {});
  // Dropout on sequences [0, dropout_rows) only (see the header comment).
  BertOutput forward_rows(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, int64_t dropout_rows,
                          bool want_first_layer_output = false, const torch::Tensor& first_position = {});

  const BertConfig& config() const { return config_; }

  BertEmbeddings embeddings{nullptr};
  BertEncoder encoder{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(BertModel);

// transformers' BertPreTrainedModel._init_weights for every submodule below `module`: Linear and
// Embedding weights ~ N(0, initializer_range) from `generator` (default generator if undefined),
// biases 0, LayerNorm 1/0, the padding row of word embeddings 0.
void init_bert_weights(torch::nn::Module& module, const BertConfig& config,
                       std::optional<at::Generator> generator = std::nullopt);

}  // namespace simcsepp::model
