// chunked_forward_backward.h - one micro-batch's forward and backward in chunks of C sentences
// with gradient caching (GradCache, Gao et al. 2021), exact for every objective: the gradient
// is that of the whole micro-batch, with every sentence of it (on every rank) a negative.
//
//   pass 1 (no autograd): for each chunk, snapshot the dropout generators (rng_snapshot.h) and
//          encode every view the objective needs (encode_views on the chunk's rows: dropout-on
//          views, and the dropout-off views under off-dropout); concatenate per view.
//   loss:  the views become leaf tensors that require grad; objective_loss_backward on them
//          (model/objective_backward.h), exactly the unchunked objective (negatives gathered
//          with all_gather_with_grad, the off-dropout rule, DCL statistics over the global
//          batch), backpropagated (loss * loss_scale) into the leaves - in row blocks of the
//          logits when N x W*N would exceed logits_budget (0 = never). Its backward runs the gather's reduce-scatter, so each rank's cached
//          gradient includes the terms of every other rank's loss rows that use its sentences
//          as negatives (and DCL's global statistics) - the same numbers unchunked backward
//          sends into the encoder. Every rank must call this at the same point (collectives).
//   pass 2 (autograd): for each chunk, restore its snapshot (so the masks equal pass 1's),
//          encode again and backward(view, cached gradient rows). Parameter gradients
//          accumulate chunk by chunk; afterwards the generators are where pass 1 left them.
// Memory: activations of one chunk at a time plus the [N, d] views and their gradients and the
// loss's own N x W*N logits; compute: one extra forward of the batch (about 1.3-2x).
// Backward passes: one per chunk (chunk_count): the gradient reducer must be told
// (GradientReducer::set_backward_passes_per_step) so buckets are all-reduced once per update.
// Under bf16 autocast pass 1 is one autocast region, pass 2 one per chunk forward (backward and
// the loss run outside, in fp32, as unchunked).
// Keyed test dropout (model/dropout_masks.h) is told each chunk's rows (DropoutChunks), so a
// sentence gets the masks it gets unchunked.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "cluster/communicator.h"
#include "model/bert_config.h"
#include "model/objective.h"
#include "model/objective_config.h"
#include "model/sentence_encoder.h"
#include "trainer/phase_clock.h"

namespace simcsepp::trainer {

// Chunks of `chunk_size` rows in a batch of `rows` (the last one may be shorter).
int64_t chunk_count(int64_t rows, int64_t chunk_size);

struct ChunkedMicroBatch {
  model::ObjectiveLoss loss;  // detached; the same values as the unchunked objective
  torch::Tensor anchor;       // [N, d] dropout-on anchor embeddings, detached (diagnostics)
};

// input_ids / attention_mask: one [N, L] tensor per column, on the encoder's device. Laps
// `clock`: pass 1 as forward, the loss with its gradient and pass 2 as backward.
ChunkedMicroBatch chunked_forward_backward(model::SentenceEncoder& encoder, cluster::Communicator& comm,
                                           const model::ObjectiveConfig& objective, model::Pooler pooler,
                                           const std::vector<torch::Tensor>& input_ids,
                                           const std::vector<torch::Tensor>& attention_mask, int64_t chunk_size,
                                           double loss_scale, bool mixed_precision, PhaseClock& clock,
                                           int64_t logits_budget = 0);

}  // namespace simcsepp::trainer
