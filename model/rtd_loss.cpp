// rtd_loss.cpp - see rtd_loss.h.
#include "model/rtd_loss.h"

#include <torch/torch.h>

namespace simcsepp::model {

RtdLoss rtd_loss(cluster::Communicator& comm, RtdDiscriminator& discriminator, const ReplacedTokens& edited,
                 const torch::Tensor& attention_mask, const torch::Tensor& sentence_embedding, bool dropout) {
  const auto logits = discriminator->forward(edited.ids, attention_mask, sentence_embedding, dropout);
  const auto token = attention_mask.to(torch::kBool).reshape({-1});
  const auto per_token = torch::nn::functional::cross_entropy(
      logits.reshape({-1, 2}), edited.replaced.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  const auto weight = token.to(per_token.scalar_type());
  auto count = weight.sum().detach().clone();
  if (comm.world_size() > 1) comm.all_reduce(count, cluster::ReduceOp::kSum);
  RtdLoss out;
  out.loss = (per_token * weight).sum() * static_cast<double>(comm.world_size()) / count.clamp_min(1.0);
  torch::NoGradGuard no_grad;
  const auto right = logits.argmax(-1).reshape({-1}).eq(edited.replaced.reshape({-1})).to(weight.scalar_type());
  out.accuracy = (right * weight).sum() / weight.sum().clamp_min(1.0);
  return out;
}

}  // namespace simcsepp::model
