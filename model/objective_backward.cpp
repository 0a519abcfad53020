// objective_backward.cpp - see objective_backward.h.
#include "model/objective_backward.h"

#include <torch/torch.h>

#include "base/error.h"
#include "model/blockwise_contrastive_loss.h"
#include "model/dcl_loss.h"

namespace simcsepp::model {

int64_t instance_block_rows(int64_t local_rows, int64_t logit_columns, int64_t logits_budget) {
  SIMCSEPP_CHECK(local_rows >= 1 && logit_columns >= 1 && logits_budget >= 0, "bad instance_block_rows arguments");
  if (logits_budget == 0 || local_rows * logit_columns <= logits_budget) return 0;
  return std::max<int64_t>(1, logits_budget / logit_columns);
}

ObjectiveLoss objective_loss_backward(cluster::Communicator& comm, const ObjectiveConfig& config,
                                      const ObjectiveViews& leaves, double grad_scale, int64_t logits_budget) {
  const auto cv = instance_views(config, leaves);
  const int64_t n = cv.anchor.size(0);
  const int64_t columns = static_cast<int64_t>(comm.world_size()) * n * (cv.hard_negatives.defined() ? 2 : 1);
  const int64_t block_rows = instance_block_rows(n, columns, logits_budget);
  if (block_rows == 0) {
    auto loss = objective_loss(comm, config, leaves);
    (loss.total * grad_scale).backward();
    return {loss.total.detach(), loss.instance.detach(), loss.dcl.detach()};
  }
  ObjectiveLoss out;
  out.instance = contrastive_loss_blockwise_backward(comm, cv, instance_options(config), block_rows, grad_scale);
  if (config.dcl) {
    const auto dcl = dcl_loss(comm, leaves.anchor, leaves.positive, config.dcl_temperature);
    (dcl * (config.dcl_weight * grad_scale)).backward();
    out.dcl = dcl.detach();
    out.total = out.instance + config.dcl_weight * out.dcl;
  } else {
    out.dcl = torch::zeros({}, out.instance.options());
    out.total = out.instance;
  }
  return out;
}

}  // namespace simcsepp::model
