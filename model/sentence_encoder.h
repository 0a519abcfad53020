// sentence_encoder.h - BERT plus SimCSE's training MLP head and the sentence poolers: the module
// every objective and the trainer call.
//
// Parameters are named as in SimCSE checkpoints: "bert.<HF BertModel key>" and "mlp.dense.*".
// forward() returns one embedding per sentence, fp32 even when the encoder ran under bf16
// autocast, so the objectives always see fp32 (fp64 for a float64 model: tests compare
// distributed and single-process training in double). The encoder opens no autocast region of
// its own: the caller opens one around all its encoder calls (model/autocast_scope.h), so the
// bf16 copies of the weights are made once per forward pass, not once per call.
//
// Dropout is on only when the module is in train() mode AND the call passes dropout_on=true;
// dropout_on=false gives the off-dropout pass of SimCSE++ without touching any module state, so
// the next call is back to normal by construction.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "model/bert_config.h"
#include "model/bert_model.h"
#include "model/projection_head.h"

namespace simcsepp::model {

// Seed of the MLP head's initialisation when a checkpoint carries none (reproducible runs).
inline constexpr uint64_t kDefaultMlpSeed = 42;

// SimCSE's MLPLayer: "mlp.dense" = Linear(H, H), then tanh.
class MlpHeadImpl : public torch::nn::Module {
 public:
  explicit MlpHeadImpl(int64_t hidden_size);
  torch::Tensor forward(const torch::Tensor& cls);
  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(MlpHead);

class SentenceEncoderImpl : public torch::nn::Module {
 public:
  // Randomly initialised as transformers does (N(0, initializer_range) from the default
  // generator), so torch::manual_seed makes it reproducible.
  explicit SentenceEncoderImpl(const BertConfig& config);

  // input_ids/attention_mask: int64 [B, L]. Returns fp32 [B, H] (fp64 for a float64 model).
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, Pooler pooler,
                        bool dropout_on = true);
  // As forward(), with dropout (in training mode) on sequences [0, dropout_rows) only
  // (BertModel::forward_rows): one call for SimCSE++'s dropout-on and dropout-off sequences.
  torch::Tensor forward_rows(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, Pooler pooler,
                             int64_t dropout_rows);
  // [B, L, H] last-layer hidden states (fp32, or fp64 for a float64 model).
  torch::Tensor last_hidden_state(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                  bool dropout_on = true);

  // Re-draws the MLP head (N(0, initializer_range), bias 0) from a private generator seeded
  // with `seed`; used when a checkpoint has no head.
  void reset_mlp(uint64_t seed = kDefaultMlpSeed);

  const BertConfig& config() const { return bert->config(); }

  // DiffCSE's BatchNorm projector (`--projector batchnorm`), in place of `mlp` for the training
  // pooler kCls; null otherwise. Applied by encode_views (it needs the communicator), never by
  // forward(), evaluation or export.
  void add_projector(uint64_t seed);

  BertModel bert{nullptr};
  MlpHead mlp{nullptr};
  ProjectionHead projector{nullptr};

 private:
  BertOutput encode(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, int64_t dropout_rows,
                    bool want_first_layer_output);
};
TORCH_MODULE(SentenceEncoder);

// Sentence embedding from encoder outputs (no MLP: kCls is applied by SentenceEncoder).
// attention_mask int64 [B, L]; masked means ignore padding positions.
torch::Tensor pool_hidden_states(const BertOutput& output, const torch::Tensor& attention_mask, Pooler pooler);

}  // namespace simcsepp::model
