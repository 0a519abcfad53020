// objective.cpp - composes contrastive_loss and dcl_loss according to ObjectiveConfig.
#include "model/objective.h"

#include <torch/torch.h>

#include "base/error.h"
#include "model/contrastive_loss.h"
#include "model/dcl_loss.h"

namespace simcsepp::model {

namespace {

void require(const torch::Tensor& t, const char* view, const ObjectiveConfig& config) {
  SIMCSEPP_CHECK(t.defined(), std::string("objective ") + config.name() + " needs the view " + view);
}

}  // namespace

ContrastiveViews instance_views(const ObjectiveConfig& config, const ObjectiveViews& views) {
  require(views.anchor, "anchor", config);
  require(views.positive, "positive", config);
  ContrastiveViews cv;
  cv.anchor = views.anchor;
  cv.positive = views.positive;
  if (config.off_dropout) {
    require(views.anchor_off, "anchor_off", config);
    cv.neg_anchor = views.anchor_off;
    if (config.supervised) {
      require(views.positive_off, "positive_off", config);
      cv.neg_columns = views.positive_off;
      cv.hard_negatives = views.hard_negative_off;
    } else {
      cv.neg_columns = views.anchor_off;
    }
  } else {
    cv.neg_anchor = views.anchor;
    cv.neg_columns = views.positive;
    // Supervised pairs without a third column simply have no hard negatives.
    if (config.supervised) cv.hard_negatives = views.hard_negative;
  }
  return cv;
}

ContrastiveOptions instance_options(const ObjectiveConfig& config) {
  ContrastiveOptions options;
  options.temperature = config.temperature;
  options.hard_negative_weight = config.hard_negative_weight;
  if (config.off_dropout) options.pos_ratio = config.pos_ratio;
  return options;
}

ObjectiveLoss objective_loss(cluster::Communicator& comm, const ObjectiveConfig& config, const ObjectiveViews& views) {
  const auto cv = instance_views(config, views);
  const auto options = instance_options(config);
  ObjectiveLoss out;
  out.instance = contrastive_loss(comm, cv, options);
  if (config.dcl) {
    out.dcl = dcl_loss(comm, views.anchor, views.positive, config.dcl_temperature);
    out.total = out.instance + config.dcl_weight * out.dcl;
  } else {
    out.dcl = torch::zeros({}, out.instance.options());
    out.total = out.instance;
  }
  return out;
}

}  // namespace simcsepp::model
