// lr_schedule.h - linear decay with optional linear warmup (transformers'
// get_linear_schedule_with_warmup), the paper's schedule (method.md 6: no warmup).
//
// Update k (0-based) uses lr * multiplier(k): k / warmup during warmup, then
// (total - k) / (total - warmup), never below 0. lr_at is host arithmetic; lr_tensor is the
// same formula as tensor operations on a device counter, for a step that reads no host values.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace simcsepp::trainer {

class LinearSchedule {
 public:
  LinearSchedule(double peak_lr, int64_t warmup_steps, int64_t total_steps);
  double lr_at(int64_t update) const;
  // lr_at(update) for a scalar tensor `update` (any floating dtype, any device), in its dtype;
  // in float64 it equals lr_at bit for bit (the same operations in the same order).
  torch::Tensor lr_tensor(const torch::Tensor& update) const;

 private:
  double peak_lr_;
  int64_t warmup_;
  int64_t total_;
};

}  // namespace simcsepp::trainer
