// run_metrics.h - the Prometheus side of a training run.
//
// Every rank serves its own /metrics (monitoring::TrainingMetrics on metrics_port + local rank);
// the ranks all-gather their endpoints and rank 0 writes the file_sd JSON
// (<run-dir>/prometheus_targets.json) that monitoring/prometheus/prometheus.yml discovers.
// A port that is already taken does not kill a training job: that rank logs a warning and runs
// without an endpoint (it is then missing from the targets). close() empties the target list
// after a clean end, so the "exporter down" alert does not fire for a finished run.
// Every collective the communicator completes is recorded (bandwidth per op) through a
// collective listener, removed again by the destructor.
// Collective: construct on every rank at the same point.
#pragma once

#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "cluster/communicator.h"
#include "cluster/topology.h"
#include "monitoring/training_metrics.h"

namespace simcsepp::trainer {

struct TrainOptions;

// Peak dense FLOP/s of this rank's device for MFU: --peak-tflops, else the GPU's datasheet
// number by name; 0 (no MFU) on a CPU or an unknown GPU.
double peak_flops(const TrainOptions& options, c10::Device device, bool bf16);

class RunMetrics {
 public:
  RunMetrics(const TrainOptions& options, cluster::Communicator& comm, const cluster::Topology& topology,
             c10::Device device);
  ~RunMetrics();
  RunMetrics(const RunMetrics&) = delete;
  RunMetrics& operator=(const RunMetrics&) = delete;
  monitoring::TrainingMetrics& metrics() { return *metrics_; }
  // Rank 0: writes an empty target list (clean end). Not called on preemption or errors, so a
  // requeued job's targets stay announced.
  void close();

 private:
  cluster::Communicator& comm_;
  int listener_ = -1;
  std::string file_sd_path_;
  bool writer_ = false;
  std::unique_ptr<monitoring::TrainingMetrics> metrics_;
};

}  // namespace simcsepp::trainer
