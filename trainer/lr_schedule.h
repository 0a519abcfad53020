// lr_schedule.h - linear decay with optional linear warmup (transformers'
// get_linear_schedule_with_warmup), the paper's schedule (method.md 6: no warmup).
//
// Update k (0-based) uses lr * multiplier(k): k / warmup during warmup, then
// (total - k) / (total - warmup), never below 0. Pure host arithmetic: no device work.
#pragma once

#include <cstdint>

namespace simcsepp::trainer {

class LinearSchedule {
 public:
  LinearSchedule(double peak_lr, int64_t warmup_steps, int64_t total_steps);
  double lr_at(int64_t update) const;

 private:
  double peak_lr_;
  int64_t warmup_;
  int64_t total_;
};

}  // namespace simcsepp::trainer
