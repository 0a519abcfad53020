// mlm_generator.h - DiffCSE's generator: a frozen Hugging Face masked-language model that fills
// the masked tokens of a sentence (issue 18; the official code voidism/DiffCSE calls it with the
// masked ids and the attention mask and takes the argmax at every position).
//
// Loads a BertForMaskedLM or a DistilBertForMaskedLM directory (config.json "model_type" bert or
// distilbert; model.safetensors). DistilBERT's layer is BERT's post-LayerNorm layer under other
// names (q_lin/k_lin/v_lin/out_lin, sa_layer_norm, ffn.lin1/lin2, output_layer_norm) and has no
// token-type embedding, so both run on simcsepp's BertModel: DistilBERT's keys are renamed and its
// token-type embedding is a zero row. The MLM head is transform (Linear H->H, gelu, LayerNorm)
// then the word-embedding matrix (tied, as both transformers models tie it) plus a bias.
// Every parameter has requires_grad false: the generator is never trained, checkpointed or exported.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <string>

#include "model/bert_model.h"

namespace simcsepp::model {

class MlmGeneratorImpl : public torch::nn::Module {
 public:
  // `architecture` is "bert" or "distilbert" (what config.json said); the config is BERT's.
  MlmGeneratorImpl(const BertConfig& config, std::string architecture);

  // Vocabulary logits [B, L, V] (fp32) of int64 ids/mask [B, L]; dropout as in BertModel (the
  // official generator runs in train mode, so with dropout, under no_grad).
  torch::Tensor logits(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, bool dropout);
  // The most likely token at every position, int64 [B, L] (no gradient).
  torch::Tensor fill(const torch::Tensor& masked_ids, const torch::Tensor& attention_mask, bool dropout);

  const BertConfig& config() const { return bert->config(); }
  const std::string& architecture() const { return architecture_; }

  BertModel bert{nullptr};
  torch::nn::Linear transform{nullptr};
  torch::nn::LayerNorm transform_norm{nullptr};
  torch::Tensor output_bias;  // [V]

 private:
  std::string architecture_;
};
TORCH_MODULE(MlmGenerator);

// Loads the generator from a Hugging Face model directory. Throws simcsepp::Error naming the file
// or tensor (not a directory, another model_type, a missing or mis-shaped tensor, no safetensors).
MlmGenerator load_mlm_generator(const std::string& model_dir);

}  // namespace simcsepp::model
