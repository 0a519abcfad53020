// rtd_discriminator.h - DiffCSE's discriminator: a BERT encoder whose position-0 input is the
// sentence embedding h = f(x) instead of [CLS]'s embedding, and a Linear(H, 2) head that says,
// per token of the generator's edited sentence x'', whether it was replaced (the official code's
// aux_bert with cls_input and electra_head; issue 18).
//
// The gradient of the RTD loss reaches the sentence encoder through h. The discriminator is
// trained with the encoder, checkpointed and resumed with it, and never exported. It starts from
// a BERT checkpoint directory - the encoder's own --model, as the official code loads aux_bert
// from the pretrained BERT - and the head from torch's default Linear distribution (the official
// electra_head is a fresh nn.Linear: weight and bias uniform in +-1/sqrt(H)), drawn from a
// private generator seeded with `seed`, so a run's start does not depend on what else drew from
// the default generator before (it did, run to run, in a test).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <string>

#include "model/bert_model.h"

namespace simcsepp::model {

class RtdDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit RtdDiscriminatorImpl(const BertConfig& config);
  // ids/mask int64 [B, L]; sentence_embedding [B, H] (carries the encoder's gradient). Logits
  // [B, L, 2] fp32 (fp64 for a float64 model): class 1 = replaced.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                        const torch::Tensor& sentence_embedding, bool dropout);

  BertModel bert{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(RtdDiscriminator);

// The discriminator initialised from a BERT checkpoint directory (load_hf_model's rules).
RtdDiscriminator load_rtd_discriminator(const std::string& model_dir, uint64_t seed);

}  // namespace simcsepp::model
