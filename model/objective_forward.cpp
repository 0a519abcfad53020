// objective_forward.cpp - see objective_forward.h.
#include "model/objective_forward.h"

#include <torch/torch.h>

#include "base/error.h"

namespace simcsepp::model {

ObjectiveViews encode_views(SentenceEncoder& encoder, const ObjectiveConfig& config, Pooler pooler,
                            const std::vector<torch::Tensor>& input_ids,
                            const std::vector<torch::Tensor>& attention_mask, cluster::Communicator* comm,
                            bool fuse_off_dropout) {
  // One encoder call: the pooled rows, through the BatchNorm projector when there is one.
  const bool project = encoder->projector && pooler == Pooler::kCls;
  SIMCSEPP_CHECK(!project || comm, "the BatchNorm projector needs the communicator");
  const auto call = [&](const torch::Tensor& ids, const torch::Tensor& mask, bool dropout) {
    if (!project) return encoder->forward(ids, mask, pooler, dropout);
    return encoder->projector->forward(encoder->forward(ids, mask, Pooler::kClsBeforePooler, dropout), *comm);
  };
  const size_t columns = input_ids.size();
  if (config.supervised && columns < 2) {
    throw Error("objective " + config.name() + " needs a corpus with 2 or 3 columns, got " + std::to_string(columns),
                "--corpus", "prepare NLI triplets (sent0, sent1, hard_neg) or use --objective simcse++");
  }
  SIMCSEPP_CHECK(columns >= 1 && columns == attention_mask.size(), "column count mismatch");
  const int64_t n = input_ids.front().size(0);
  ObjectiveViews v;
  // One call: `on` (the dropout-on batch) then the same sequences again without dropout.
  const bool fused = fuse_off_dropout && config.off_dropout && !project;
  const auto fused_call = [&](const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& off_ids,
                              const torch::Tensor& off_mask) {
    return encoder->forward_rows(torch::cat({ids, off_ids}, 0), torch::cat({mask, off_mask}, 0), pooler, ids.size(0));
  };
  if (!config.supervised) {
    // Column 0 twice: the two dropout masks make h and h+ (SimCSE's augmentation).
    const auto ids = torch::cat({input_ids[0], input_ids[0]}, 0);
    const auto mask = torch::cat({attention_mask[0], attention_mask[0]}, 0);
    if (fused) {
      const auto all = fused_call(ids, mask, input_ids[0], attention_mask[0]);
      v.anchor = all.narrow(0, 0, n);
      v.positive = all.narrow(0, n, n);
      v.anchor_off = all.narrow(0, 2 * n, n);
      return v;
    }
    const auto on = call(ids, mask, /*dropout=*/true);
    v.anchor = on.narrow(0, 0, n);
    v.positive = on.narrow(0, n, n);
    if (config.off_dropout) v.anchor_off = call(input_ids[0], attention_mask[0], false);
    return v;
  }
  const size_t used = std::min<size_t>(columns, 3);
  const auto ids = torch::cat(std::vector<torch::Tensor>(input_ids.begin(), input_ids.begin() + used), 0);
  const auto mask = torch::cat(std::vector<torch::Tensor>(attention_mask.begin(), attention_mask.begin() + used), 0);
  const int64_t rows = ids.size(0);
  if (fused) {
    const auto all = fused_call(ids, mask, ids, mask);
    v.anchor = all.narrow(0, 0, n);
    v.positive = all.narrow(0, n, n);
    if (used == 3) v.hard_negative = all.narrow(0, 2 * n, n);
    v.anchor_off = all.narrow(0, rows, n);
    v.positive_off = all.narrow(0, rows + n, n);
    if (used == 3) v.hard_negative_off = all.narrow(0, rows + 2 * n, n);
    return v;
  }
  const auto on = call(ids, mask, true);
  v.anchor = on.narrow(0, 0, n);
  v.positive = on.narrow(0, n, n);
  if (used == 3) v.hard_negative = on.narrow(0, 2 * n, n);
  if (config.off_dropout) {
    const auto off = call(ids, mask, false);
    v.anchor_off = off.narrow(0, 0, n);
    v.positive_off = off.narrow(0, n, n);
    if (used == 3) v.hard_negative_off = off.narrow(0, 2 * n, n);
  }
  return v;
}

ObjectiveLoss forward_objective(SentenceEncoder& encoder, cluster::Communicator& comm, const ObjectiveConfig& config,
                                Pooler pooler, const std::vector<torch::Tensor>& input_ids,
                                const std::vector<torch::Tensor>& attention_mask) {
  return objective_loss(comm, config, encode_views(encoder, config, pooler, input_ids, attention_mask, &comm));
}

}  // namespace simcsepp::model
