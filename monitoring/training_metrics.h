// training_metrics.h - the trainer's one entry point into monitoring: every metric of a
// SimCSE++ run, fed with plain numbers, served at http://<bind>:<base_port + local_rank>/metrics.
//
// Usage from the training loop (one TrainingMetrics per rank):
//
//   monitoring::MetricsOptions opt;             // from the train command's options
//   opt.base_port = 9400; opt.local_rank = topo.local_rank; opt.rank = topo.rank;
//   opt.host = topo.host; opt.run_id = run_id; opt.world_size = topo.world_size;
//   monitoring::TrainingMetrics metrics(opt);   // throws simcsepp::Error if the port is taken
//   auto all = all_gather_strings(metrics.endpoint());          // trainer's own collective
//   if (rank == 0) monitoring::write_file_sd(run_dir + "/" + monitoring::kFileSdName, all,
//                                            metrics.target_labels());
//   for (...) {
//     monitoring::StepRecord r; r.step = step; r.loss = ...; r.step_seconds = ...;
//     metrics.record_step(r);                   // lock-free, a few atomic stores
//   }
//   metrics.record_eval({.step = step, .spearman = rho, .alignment = a, .uniformity = u});
//
// Threading: record_* may be called from any thread; they only do atomic updates on metrics
// created in the constructor (record_collective with an op first seen later creates its series
// once, under prometheus-cpp's family mutex). Scrapes run on the exposer's threads and never
// block them. (The run's JSON-lines log, <run dir>/metrics.jsonl, is the trainer's: trainer/metrics_log.h.)
// With enabled = false no server runs and nothing binds, but record_* still update the metrics
// (render() works), so the caller needs no branches.
//
// Built on prometheus-cpp (counters, gauges, text serializer; civetweb serves /metrics; histograms are simcsepp's
// lock-free ones). A build without prometheus-cpp (training_metrics_unavailable.cpp) accepts
// every call, records nothing, serves nothing (endpoint() is ""), and logs a warning once per
// TrainingMetrics with enabled = true: training runs, /metrics is disabled.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace simcsepp::monitoring {

struct MetricsOptions {
  bool enabled = true;                     // false: no HTTP server (metrics still updated)
  std::string bind_address = "127.0.0.1";  // 0.0.0.0 to let a Prometheus on another host scrape
  int base_port = 9400;                    // this rank serves base_port + local_rank; 0 = any free port
  int local_rank = 0;
  int rank = 0;
  int world_size = 1;
  std::string host;    // label and the host part of endpoint(); "" = gethostname()
  std::string run_id;  // label that tells runs apart on one dashboard
};

// One optimizer step, as the trainer measured it. Times are in seconds; std::nullopt fields
// were not measured this step (their gauges keep the last value).
struct StepRecord {
  std::int64_t step = 0;                               // global step after this update
  double loss = 0.0;                                   // total loss (NaN/Inf are exported as such: alerts watch it)
  std::optional<double> instance_loss = std::nullopt;  // off-dropout instance-discrimination part
  std::optional<double> dcl_loss = std::nullopt;       // dimension-wise contrastive part
  std::optional<double> rtd_loss = std::nullopt;       // DiffCSE's replaced-token detection (unweighted)
  std::optional<double> rtd_accuracy = std::nullopt;   // its token accuracy on this rank
  double learning_rate = 0.0;
  std::optional<double> grad_norm = std::nullopt;  // global L2 norm before clipping
  double step_seconds = 0.0;                       // wall time of the whole step
  // Split of step_seconds; leave a phase at 0 if it was not measured.
  double data_wait_seconds = 0.0;
  double forward_seconds = 0.0;
  double backward_seconds = 0.0;
  double communication_seconds = 0.0;  // time blocked in collectives not hidden by compute
  double optimizer_seconds = 0.0;
  std::int64_t sentences = 0;                                    // sentences this rank processed in the step
  std::int64_t tokens = 0;                                       // non-padding tokens this rank processed
  bool skipped = false;                                          // update skipped (non-finite loss/gradients)
  std::optional<double> data_queue_depth = std::nullopt;         // batches ready in the reader's prefetch queue
  std::int64_t data_bytes_read = 0;     // bytes the rank's data reader read from shard files since the last record
  std::int64_t data_shards_opened = 0;  // shard files it opened since the last record
  std::optional<double> model_flops_per_second = std::nullopt;   // model FLOPs of the step / step_seconds
  std::optional<double> model_flops_utilization = std::nullopt;  // achieved / peak FLOP/s, 0..1 (GPU only)
  std::optional<double> effective_rank = std::nullopt;  // of the batch embedding matrix (embedding_diagnostics.h)
  std::optional<double> gpu_memory_used_bytes = std::nullopt;      // allocated by tensors
  std::optional<double> gpu_memory_reserved_bytes = std::nullopt;  // held by the caching allocator
  std::optional<double> epoch = std::nullopt;
  std::optional<double> timestamp_seconds = std::nullopt;  // Unix time of the step's end; default now
};

// One dev-set evaluation (STS-B dev).
struct EvalRecord {
  std::int64_t step = 0;
  double spearman = 0.0;                            // Spearman correlation, -1..1
  std::optional<double> alignment = std::nullopt;   // embedding_diagnostics.h: alignment()
  std::optional<double> uniformity = std::nullopt;  // embedding_diagnostics.h: uniformity()
};

class TrainingMetrics {
 public:
  explicit TrainingMetrics(const MetricsOptions& options);
  ~TrainingMetrics();
  TrainingMetrics(const TrainingMetrics&) = delete;
  TrainingMetrics& operator=(const TrainingMetrics&) = delete;

  // "host:port" Prometheus should scrape (host = options.host, port actually bound); "" when
  // disabled.
  std::string endpoint() const;
  // Labels for the file_sd target group (run_id); rank/host come from the samples themselves.
  std::map<std::string, std::string> target_labels() const;

  void record_step(const StepRecord& record);
  void record_eval(const EvalRecord& record);
  // A checkpoint file written in `seconds` (any thread: the background writer calls it).
  void record_checkpoint(double seconds);
  // The training step was blocked `seconds` by a checkpoint (snapshot, or the whole write).
  void record_checkpoint_blocked(double seconds);
  // One collective of `bytes` (nccl-tests size, see bus_bandwidth.h) that took `seconds` among
  // `world` ranks; op is all_reduce, all_gather, reduce_scatter, all_to_all, broadcast or reduce.
  // Every call is counted; only calls of at least 64 KiB set the bandwidth gauges (smaller ones
  // measure latency).
  void record_collective(const std::string& op, double bytes, double seconds, int world);

  // The exposition text a scrape of /metrics returns, uncompressed (tests, debugging); "" in a
  // build without prometheus-cpp.
  std::string render() const;

 private:
  struct Impl;  // prometheus-cpp registry, histograms, exposer (training_metrics.cpp)
  MetricsOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace simcsepp::monitoring
