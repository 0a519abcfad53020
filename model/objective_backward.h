// objective_backward.h - the training objective (objective.h) on views that are leaf tensors,
// and its gradient with respect to them: what gradient caching (trainer/
// chunked_forward_backward.h) backpropagates into the encoder chunk by chunk.
//
// d(grad_scale * total)/d(view) is accumulated into each view's .grad(). Dense by default: the
// objective_loss graph and one backward, bit for bit the gradient the unchunked backward sends
// into the encoder. When the instance loss's logits (N x W*N, twice that with hard negatives)
// would exceed `logits_budget` elements, the instance part runs in row blocks instead
// (blockwise_contrastive_loss.h), so at most `logits_budget` logits exist at once; DCL (a d x d
// matrix over the gathered [W*N, d] views) stays dense. Collectives inside: every rank calls it
// with the same shapes and budget.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "cluster/communicator.h"
#include "model/objective.h"
#include "model/objective_config.h"

namespace simcsepp::model {

// logits_budget: 0 = always dense. Returns the (detached) loss values.
ObjectiveLoss objective_loss_backward(cluster::Communicator& comm, const ObjectiveConfig& config,
                                      const ObjectiveViews& leaves, double grad_scale, int64_t logits_budget = 0);

// Rows per block of the blockwise instance loss for a budget (0: dense, the whole batch fits).
int64_t instance_block_rows(int64_t local_rows, int64_t logit_columns, int64_t logits_budget);

}  // namespace simcsepp::model
