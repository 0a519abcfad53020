// loss_precision.h - the dtype the embeddings and losses are computed in: at least fp32.
// bf16/fp16 (autocast) embeddings are promoted to fp32, since logits divided by tau = 0.05 need
// the mantissa; fp32 stays, and so does fp64 (a float64 model, used by tests that compare
// distributed with single-process training without fp32 rounding in the way).
#pragma once

#include <torch/types.h>

namespace simcsepp::model {

inline torch::Tensor at_least_fp32(const torch::Tensor& t) {
  return t.scalar_type() == torch::kDouble ? t : t.to(torch::kFloat32);
}

}  // namespace simcsepp::model
