// training_metrics_unavailable.cpp - TrainingMetrics for builds without prometheus-cpp: every
// call is accepted and records nothing, no server runs, and one warning says how to get
// /metrics back. The trainer needs no branches; its JSONL log still has every number.
#include "simcsepp/build_config.h"

#if !SIMCSEPP_HAVE_PROMETHEUS_CPP

#include "base/error.h"
#include "base/log.h"
#include "monitoring/bus_bandwidth.h"
#include "monitoring/training_metrics.h"

namespace simcsepp::monitoring {

struct TrainingMetrics::Impl {};

TrainingMetrics::TrainingMetrics(const MetricsOptions& options) : options_(options) {
  if (options_.enabled &&
      (options_.base_port < 0 || options_.base_port + options_.local_rank > 65535 || options_.local_rank < 0)) {
    throw Error("metrics port " + std::to_string(options_.base_port) + " + local rank " +
                    std::to_string(options_.local_rank) + " is not a TCP port",
                "metrics base port", "choose a base port between 1024 and 65535 - ranks per node (0 = any free port)");
  }
  if (options_.enabled) {
    // The GPU machine may lack prometheus-cpp: train anyway, loudly, rather than refuse to start.
    LOG_WARN(
        "this build has no Prometheus exporter (prometheus-cpp not found): /metrics is disabled. HINT: "
        "apt-get install prometheus-cpp-dev (or carry it with scripts/device-build.sh) and rebuild");
    options_.enabled = false;
  }
}
TrainingMetrics::~TrainingMetrics() = default;
std::string TrainingMetrics::endpoint() const { return ""; }
std::map<std::string, std::string> TrainingMetrics::target_labels() const { return {{"run_id", options_.run_id}}; }
void TrainingMetrics::record_step(const StepRecord&) {}
void TrainingMetrics::record_eval(const EvalRecord&) {}
void TrainingMetrics::record_checkpoint(double) {}
void TrainingMetrics::record_checkpoint_blocked(double) {}
void TrainingMetrics::record_collective(const std::string& op, double, double, int world) {
  bus_bandwidth_factor(op, world);  // the same errors as the real build for a bad op or world
}
std::string TrainingMetrics::render() const { return ""; }

}  // namespace simcsepp::monitoring

#endif  // !SIMCSEPP_HAVE_PROMETHEUS_CPP
