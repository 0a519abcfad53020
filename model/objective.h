// objective.h - the full training objective on sentence embeddings: the instance loss chosen by
// ObjectiveConfig (SimCSE, off-dropout, supervised) plus lambda * DCL when enabled.
//
// The caller (objective_forward.h, or a test) produces the views with the encoder:
//   dropout on : anchor h_i, positive h_i+ (and hard_negative for supervised), all carrying grad;
//   dropout off: *_off views of the same sentences (off-dropout only), also carrying grad.
// Which views are negatives is decided here and only here (method.md 5): the dropout-off views
// under off-dropout, otherwise the positives (and hard negatives); dropout-on views are never
// gathered as negatives under off-dropout.
#pragma once

#include <torch/types.h>

#include "cluster/communicator.h"
#include "model/contrastive_loss.h"
#include "model/objective_config.h"

namespace simcsepp::model {

struct ObjectiveViews {
  torch::Tensor anchor;             // [N, d] dropout on
  torch::Tensor positive;           // [N, d] dropout on
  torch::Tensor hard_negative;      // [N, d] dropout on (supervised only)
  torch::Tensor anchor_off;         // [N, d] dropout off (off-dropout only)
  torch::Tensor positive_off;       // [N, d] dropout off (supervised + off-dropout)
  torch::Tensor hard_negative_off;  // [N, d] dropout off (supervised + off-dropout)
};

struct ObjectiveLoss {
  torch::Tensor total;     // instance + dcl_weight * dcl  (what backward() is called on)
  torch::Tensor instance;  // the contrastive part
  torch::Tensor dcl;       // the DCL part before weighting (zero when DCL is off)
};

// The instance loss's inputs under `config`: which views are anchors, columns and hard
// negatives (the off-dropout rule lives here). Throws simcsepp::Error if a view is missing.
ContrastiveViews instance_views(const ObjectiveConfig& config, const ObjectiveViews& views);
ContrastiveOptions instance_options(const ObjectiveConfig& config);

// Throws simcsepp::Error if a view the config needs is missing.
ObjectiveLoss objective_loss(cluster::Communicator& comm, const ObjectiveConfig& config, const ObjectiveViews& views);

}  // namespace simcsepp::model
