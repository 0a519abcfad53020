// step_metrics_line.h - the "step" line of metrics.jsonl (docs/monitoring.md): the same record
// Prometheus gets, as JSON; null where a value was not measured this step (MFU on a CPU, effective
// rank between diagnostics, RTD without DiffCSE). report/ reads these keys back.
#pragma once

#include <nlohmann/json.hpp>

#include "monitoring/training_metrics.h"

namespace simcsepp::trainer {

// sentences_per_s: the run's mean throughput since this start, as the progress line shows it.
nlohmann::json step_metrics_line(const monitoring::StepRecord& r, double sentences_per_s);

}  // namespace simcsepp::trainer
