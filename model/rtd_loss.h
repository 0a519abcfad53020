// rtd_loss.h - DiffCSE's conditional replaced-token-detection loss (issue 18): the
// discriminator, conditioned on the sentence embedding h, classifies every token of the edited
// sentence x'' as replaced or not; cross-entropy over the tokens.
//
// Which tokens count: every non-padding position (the official code averages over all positions
// of its batch, padding included, with padding labelled "not replaced"; its batches are padded to
// their longest sentence, ours to --max-len, so counting padding would change the loss scale with
// the padding - docs/training.md "DiffCSE").
// Distributed: the mean is over the tokens of the GLOBAL batch - the local sum is divided by the
// all-reduced token count and multiplied by the world size, so that averaging gradients over the
// ranks (as the trainer does) equals one process with the whole batch. One scalar all_reduce.
#pragma once

#include <torch/types.h>

#include "cluster/communicator.h"
#include "model/rtd_corruption.h"
#include "model/rtd_discriminator.h"

namespace simcsepp::model {

struct RtdLoss {
  torch::Tensor loss;      // 0-dim fp32 with gradient (discriminator and, through h, encoder)
  torch::Tensor accuracy;  // 0-dim, no gradient: share of this rank's tokens classified right
};

// edited: replace_tokens' output for the sentences whose embeddings are `sentence_embedding`
// ([B, H], same rows); attention_mask int64 [B, L].
RtdLoss rtd_loss(cluster::Communicator& comm, RtdDiscriminator& discriminator, const ReplacedTokens& edited,
                 const torch::Tensor& attention_mask, const torch::Tensor& sentence_embedding, bool dropout);

}  // namespace simcsepp::model
