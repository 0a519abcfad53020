// lr_schedule.cpp - see lr_schedule.h.
#include "trainer/lr_schedule.h"

#include <torch/torch.h>

#include <algorithm>

namespace simcsepp::trainer {

LinearSchedule::LinearSchedule(double peak_lr, int64_t warmup_steps, int64_t total_steps)
    : peak_lr_(peak_lr), warmup_(warmup_steps), total_(total_steps) {}

double LinearSchedule::lr_at(int64_t update) const {
  if (update < warmup_)
    return peak_lr_ * static_cast<double>(update) / static_cast<double>(std::max<int64_t>(1, warmup_));
  const double rest =
      static_cast<double>(total_ - update) / static_cast<double>(std::max<int64_t>(1, total_ - warmup_));
  return peak_lr_ * std::max(0.0, rest);
}

torch::Tensor LinearSchedule::lr_tensor(const torch::Tensor& update) const {
  const auto warm = update * peak_lr_ / static_cast<double>(std::max<int64_t>(1, warmup_));
  const auto rest = (static_cast<double>(total_) - update) / static_cast<double>(std::max<int64_t>(1, total_ - warmup_));
  return torch::where(update < static_cast<double>(warmup_), warm, rest.clamp_min(0.0) * peak_lr_);
}

}  // namespace simcsepp::trainer
