// step_metrics_line.cpp - see step_metrics_line.h.
#include "trainer/step_metrics_line.h"

#include <cstdint>
#include <optional>

namespace simcsepp::trainer {

nlohmann::json step_metrics_line(const monitoring::StepRecord& r, double sentences_per_s) {
  auto optional = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
  return {{"step", r.step},
          {"loss", r.loss},
          {"instance_loss", optional(r.instance_loss)},
          {"dcl_loss", optional(r.dcl_loss)},
          {"grad_norm", optional(r.grad_norm)},
          {"lr", r.learning_rate},
          {"skipped", r.skipped},
          {"sentences_per_s", sentences_per_s},
          {"step_s", r.step_seconds},
          {"data_wait_s", r.data_wait_seconds},
          {"forward_s", r.forward_seconds},
          {"backward_s", r.backward_seconds},
          {"communication_s", r.communication_seconds},
          {"optimizer_s", r.optimizer_seconds},
          {"data_queue_depth", static_cast<int64_t>(r.data_queue_depth.value_or(0))},
          {"tokens", r.tokens},
          {"model_flops_per_s", optional(r.model_flops_per_second)},
          {"mfu", optional(r.model_flops_utilization)},
          {"effective_rank", optional(r.effective_rank)},
          {"gpu_memory_used_bytes", optional(r.gpu_memory_used_bytes)},
          {"rtd_loss", optional(r.rtd_loss)},
          {"rtd_accuracy", optional(r.rtd_accuracy)}};
}

}  // namespace simcsepp::trainer
