// training_metrics.cpp - the metric families of a SimCSE++ run and their updates.
//
// Names follow Prometheus conventions: simcsepp_ prefix, base units (seconds, bytes, ratio),
// _total for counters. Every sample carries the constant labels rank, local_rank, host and
// run_id. docs/monitoring.md lists them; the dashboard and alert rules only use these names
// (tests/python/monitoring_names_check.py enforces it).
#include "monitoring/training_metrics.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>

#include "cluster/base/error.h"
#include "cluster/base/log.h"
#include "monitoring/bus_bandwidth.h"
#include "monitoring/metrics_server.h"
#include "monitoring/text_exposition.h"
#include "simcsepp/build_config.h"

namespace simcsepp::monitoring {

namespace {

double unix_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

std::string local_host_name() {
  char name[256] = {0};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

constexpr std::array<const char*, 5> kPhases = {"data_wait", "forward", "backward", "communication", "optimizer"};
// The ops bus_bandwidth_factor() knows; the first two are exported from the start.
constexpr std::array<const char*, 6> kCollectives = {"all_reduce", "all_gather", "reduce_scatter",
                                                     "all_to_all", "broadcast",  "reduce"};

// Smaller collectives (the step's control flags, a parameter checksum) measure latency, not
// bandwidth: they are counted, but do not set the bandwidth gauges.
constexpr double kBandwidthMinBytes = 64 * 1024;

}  // namespace

// References into the registry, resolved once so record_* never looks anything up.
struct TrainingMetrics::Metrics {
  explicit Metrics(Registry& r)
      : registry(r),
        build_info(
            r.gauge("simcsepp_build_info", "Always 1; the version label says which simcsepp build runs.", {"version"})
                .child({SIMCSEPP_VERSION})),
        start_time(r.gauge("simcsepp_start_time_seconds", "Unix time this rank's metrics started.").child()),
        world_size(r.gauge("simcsepp_world_size", "Number of ranks in the run.").child()),
        global_step(r.gauge("simcsepp_global_step", "Global optimizer step of the last recorded step.").child()),
        epoch(r.gauge("simcsepp_epoch", "Epoch of the last recorded step (fractional).").child()),
        steps(r.counter("simcsepp_steps_total", "Optimizer steps recorded by this rank (skipped ones included).")
                  .child()),
        skipped_steps(
            r.counter("simcsepp_skipped_steps_total", "Steps whose update was skipped (non-finite loss or gradients).")
                .child()),
        heartbeat(
            r.gauge("simcsepp_last_step_timestamp_seconds", "Unix time the last step finished (heartbeat).").child()),
        loss(r.gauge("simcsepp_train_loss", "Total training loss of the last step (NaN/Inf when non-finite).").child()),
        instance_loss(
            r.gauge("simcsepp_train_instance_loss", "Off-dropout instance-discrimination part of the last step's loss.")
                .child()),
        dcl_loss(r.gauge("simcsepp_train_dcl_loss", "Dimension-wise contrastive (DCL) part of the last step's loss.")
                     .child()),
        learning_rate(r.gauge("simcsepp_learning_rate", "Learning rate used by the last step.").child()),
        grad_norm(
            r.gauge("simcsepp_gradient_norm", "Global L2 norm of the gradients of the last step, before clipping.")
                .child()),
        step_seconds(r.gauge("simcsepp_step_seconds", "Wall time of the last step.").child()),
        step_duration(r.histogram("simcsepp_step_duration_seconds", "Wall time of training steps.",
                                  exponential_buckets(0.001, 2, 18))
                          .child()),
        phase_last(r.gauge("simcsepp_step_phase_seconds", "Time of the last step spent in each phase.", {"phase"})),
        phase_total(
            r.counter("simcsepp_step_phase_seconds_total", "Cumulative step time spent in each phase.", {"phase"})),
        sentences(r.counter("simcsepp_sentences_total", "Sentences processed by this rank.").child()),
        tokens(r.counter("simcsepp_tokens_total", "Non-padding tokens processed by this rank.").child()),
        sentences_per_second(
            r.gauge("simcsepp_sentences_per_second", "Sentences per second of this rank in the last step.").child()),
        tokens_per_second(
            r.gauge("simcsepp_tokens_per_second", "Tokens per second of this rank in the last step.").child()),
        model_flops(r.gauge("simcsepp_model_flops_per_second",
                            "Model FLOP/s of this rank in the last step (matmul FLOPs of the padded batch).")
                        .child()),
        mfu(r.gauge("simcsepp_model_flops_utilization_ratio",
                    "Model FLOP utilisation of the last step: achieved / peak FLOP/s of the GPU.")
                .child()),
        queue_depth(r.gauge("simcsepp_data_queue_depth", "Batches ready in the data reader's prefetch queue.").child()),
        data_read_bytes(
            r.counter("simcsepp_data_read_bytes_total",
                      "Bytes this rank's data reader read from corpus shard files (HDF5 metadata included).")
                .child()),
        data_shards_opened(
            r.counter("simcsepp_data_shards_opened_total", "Corpus shard files this rank's data reader opened.")
                .child()),
        effective_rank(r.gauge("simcsepp_embedding_effective_rank",
                               "Effective rank (Roy & Vetterli) of the last batch's embedding matrix.")
                           .child()),
        gpu_used(r.gauge("simcsepp_gpu_memory_used_bytes", "GPU memory allocated by tensors.").child()),
        gpu_reserved(
            r.gauge("simcsepp_gpu_memory_reserved_bytes", "GPU memory reserved by the caching allocator.").child()),
        busbw(r.gauge("simcsepp_collective_bus_bandwidth_bytes_per_second",
                      "Bus bandwidth of the last collective of each kind of at least 64 KiB (nccl-tests formula).",
                      {"op"})),
        algbw(r.gauge("simcsepp_collective_algorithm_bandwidth_bytes_per_second",
                      "Algorithm bandwidth (size / time) of the last collective of each kind of at least 64 KiB.",
                      {"op"})),
        collective_bytes(
            r.counter("simcsepp_collective_bytes_total", "Bytes moved by collectives (nccl-tests size).", {"op"})),
        collective_seconds(r.counter("simcsepp_collective_seconds_total", "Time spent in collectives.", {"op"})),
        collective_calls(r.counter("simcsepp_collective_calls_total", "Collective calls recorded.", {"op"})),
        dev_spearman(
            r.gauge("simcsepp_dev_spearman", "Spearman correlation on the STS-B dev set at the last evaluation.")
                .child()),
        dev_spearman_best(r.gauge("simcsepp_dev_spearman_best", "Best STS-B dev Spearman correlation so far.").child()),
        dev_alignment(r.gauge("simcsepp_dev_alignment",
                              "Alignment (Wang & Isola) of dev positive pairs at the last evaluation; lower is better.")
                          .child()),
        dev_uniformity(r.gauge("simcsepp_dev_uniformity",
                               "Uniformity (Wang & Isola) of dev embeddings at the last evaluation; lower is better.")
                           .child()),
        dev_step(r.gauge("simcsepp_dev_eval_step", "Global step of the last dev evaluation.").child()),
        evaluations(r.counter("simcsepp_dev_evaluations_total", "Dev evaluations run.").child()),
        checkpoint_last(
            r.gauge("simcsepp_checkpoint_last_write_seconds", "Time the last checkpoint took to write.").child()),
        checkpoint_duration(r.histogram("simcsepp_checkpoint_write_duration_seconds", "Time checkpoints took to write.",
                                        exponential_buckets(0.1, 2, 12))
                                .child()) {
    for (std::size_t i = 0; i < kPhases.size(); ++i) {
      phase_last_of[i] = &phase_last.child({kPhases[i]});
      phase_total_of[i] = &phase_total.child({kPhases[i]});
    }
    collective(0);
    collective(1);
  }

  struct Collective {
    Gauge* busbw;
    Gauge* algbw;
    Counter* bytes;
    Counter* seconds;
    Counter* calls;
  };
  // The metrics of kCollectives[index]: created (under the registry mutex) on first use, then
  // read lock-free, so the per-step record_collective never waits for a scrape.
  const Collective& collective(std::size_t index) {
    if (const Collective* c = collectives[index].load(std::memory_order_acquire)) return *c;
    std::lock_guard<std::mutex> lock(collective_mutex);
    if (const Collective* c = collectives[index].load(std::memory_order_acquire)) return *c;
    const std::string op = kCollectives[index];
    collective_storage[index] =
        std::make_unique<Collective>(Collective{&busbw.child({op}), &algbw.child({op}), &collective_bytes.child({op}),
                                                &collective_seconds.child({op}), &collective_calls.child({op})});
    collectives[index].store(collective_storage[index].get(), std::memory_order_release);
    return *collective_storage[index];
  }

  Registry& registry;
  Gauge& build_info;
  Gauge& start_time;
  Gauge& world_size;
  Gauge& global_step;
  Gauge& epoch;
  Counter& steps;
  Counter& skipped_steps;
  Gauge& heartbeat;
  Gauge& loss;
  Gauge& instance_loss;
  Gauge& dcl_loss;
  Gauge& learning_rate;
  Gauge& grad_norm;
  Gauge& step_seconds;
  Histogram& step_duration;
  Family<Gauge>& phase_last;
  Family<Counter>& phase_total;
  Counter& sentences;
  Counter& tokens;
  Gauge& sentences_per_second;
  Gauge& tokens_per_second;
  Gauge& model_flops;
  Gauge& mfu;
  Gauge& queue_depth;
  Counter& data_read_bytes;
  Counter& data_shards_opened;
  Gauge& effective_rank;
  Gauge& gpu_used;
  Gauge& gpu_reserved;
  Family<Gauge>& busbw;
  Family<Gauge>& algbw;
  Family<Counter>& collective_bytes;
  Family<Counter>& collective_seconds;
  Family<Counter>& collective_calls;
  Gauge& dev_spearman;
  Gauge& dev_spearman_best;
  Gauge& dev_alignment;
  Gauge& dev_uniformity;
  Gauge& dev_step;
  Counter& evaluations;
  Gauge& checkpoint_last;
  Histogram& checkpoint_duration;

  std::array<Gauge*, kPhases.size()> phase_last_of{};
  std::array<Counter*, kPhases.size()> phase_total_of{};
  std::array<std::atomic<const Collective*>, kCollectives.size()> collectives{};
  std::array<std::unique_ptr<Collective>, kCollectives.size()> collective_storage;
  std::mutex collective_mutex;
  std::mutex eval_mutex;  // record_eval is rare; keeps "best" consistent across threads
  bool have_best = false;
};

TrainingMetrics::TrainingMetrics(const MetricsOptions& options) : options_(options) {
  if (options_.host.empty()) options_.host = local_host_name();
  if (options_.enabled &&
      (options_.base_port < 0 || options_.base_port + options_.local_rank > 65535 || options_.local_rank < 0)) {
    throw Error("metrics port " + std::to_string(options_.base_port) + " + local rank " +
                    std::to_string(options_.local_rank) + " is not a TCP port",
                "metrics base port", "choose a base port between 1024 and 65535 - ranks per node (0 = any free port)");
  }
  registry_ =
      std::make_unique<Registry>(std::map<std::string, std::string>{{"rank", std::to_string(options_.rank)},
                                                                    {"local_rank", std::to_string(options_.local_rank)},
                                                                    {"host", options_.host},
                                                                    {"run_id", options_.run_id}});
  m_ = std::make_unique<Metrics>(*registry_);
  m_->build_info.set(1);
  m_->start_time.set(unix_now());
  m_->world_size.set(options_.world_size);
  for (Gauge* g : {&m_->loss, &m_->instance_loss, &m_->dcl_loss, &m_->grad_norm, &m_->dev_spearman,
                   &m_->dev_spearman_best, &m_->dev_alignment, &m_->dev_uniformity, &m_->model_flops, &m_->mfu,
                   &m_->effective_rank}) {
    g->set(std::nan(""));  // "not measured yet", distinct from a real 0
  }
  if (options_.enabled && !MetricsServer::available()) {
    // The GPU machine may lack civetweb: train anyway, loudly, rather than refuse to start.
    LOG_WARN(
        "this build has no HTTP server (civetweb not found): /metrics is disabled. HINT: "
        "apt-get install libcivetweb-dev (or carry it with scripts/device-build.sh) and rebuild");
    options_.enabled = false;
  }
  if (options_.enabled) {
    const int port = options_.base_port == 0 ? 0 : options_.base_port + options_.local_rank;
    server_ = std::make_unique<MetricsServer>(*registry_, options_.bind_address, port);
  }
}

TrainingMetrics::~TrainingMetrics() = default;

std::string TrainingMetrics::endpoint() const {
  if (!server_) return "";
  // A wildcard bind is reachable under the host name; a specific address under itself.
  const bool wildcard =
      options_.bind_address == "0.0.0.0" || options_.bind_address == "::" || options_.bind_address.empty();
  const std::string host = wildcard ? options_.host : options_.bind_address;
  const std::string bracketed = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return bracketed + ":" + std::to_string(server_->port());
}

std::map<std::string, std::string> TrainingMetrics::target_labels() const { return {{"run_id", options_.run_id}}; }

void TrainingMetrics::record_step(const StepRecord& r) {
  Metrics& m = *m_;
  m.global_step.set(double(r.step));
  if (r.epoch) m.epoch.set(*r.epoch);
  m.steps.increment();
  if (r.skipped) m.skipped_steps.increment();
  m.loss.set(r.loss);
  if (r.instance_loss) m.instance_loss.set(*r.instance_loss);
  if (r.dcl_loss) m.dcl_loss.set(*r.dcl_loss);
  m.learning_rate.set(r.learning_rate);
  if (r.grad_norm) m.grad_norm.set(*r.grad_norm);

  m.step_seconds.set(r.step_seconds);
  m.step_duration.observe(r.step_seconds);
  const std::array<double, kPhases.size()> phases = {r.data_wait_seconds, r.forward_seconds, r.backward_seconds,
                                                     r.communication_seconds, r.optimizer_seconds};
  for (std::size_t i = 0; i < phases.size(); ++i) {
    m.phase_last_of[i]->set(phases[i]);
    m.phase_total_of[i]->increment(phases[i]);
  }

  m.sentences.increment(double(r.sentences));
  m.tokens.increment(double(r.tokens));
  if (r.step_seconds > 0) {
    m.sentences_per_second.set(double(r.sentences) / r.step_seconds);
    m.tokens_per_second.set(double(r.tokens) / r.step_seconds);
  }
  if (r.model_flops_per_second) m.model_flops.set(*r.model_flops_per_second);
  if (r.model_flops_utilization) m.mfu.set(*r.model_flops_utilization);
  if (r.data_queue_depth) m.queue_depth.set(*r.data_queue_depth);
  m.data_read_bytes.increment(double(r.data_bytes_read));
  m.data_shards_opened.increment(double(r.data_shards_opened));
  if (r.effective_rank) m.effective_rank.set(*r.effective_rank);
  if (r.gpu_memory_used_bytes) m.gpu_used.set(*r.gpu_memory_used_bytes);
  if (r.gpu_memory_reserved_bytes) m.gpu_reserved.set(*r.gpu_memory_reserved_bytes);
  // Last: a scrape that sees the new heartbeat sees the rest of this step too.
  m.heartbeat.set(r.timestamp_seconds ? *r.timestamp_seconds : unix_now());
}

void TrainingMetrics::record_eval(const EvalRecord& r) {
  Metrics& m = *m_;
  std::lock_guard<std::mutex> lock(m.eval_mutex);
  m.dev_spearman.set(r.spearman);
  if (std::isfinite(r.spearman) && (!m.have_best || r.spearman > m.dev_spearman_best.value())) {
    m.dev_spearman_best.set(r.spearman);
    m.have_best = true;
  }
  if (r.alignment) m.dev_alignment.set(*r.alignment);
  if (r.uniformity) m.dev_uniformity.set(*r.uniformity);
  m.dev_step.set(double(r.step));
  m.evaluations.increment();
}

void TrainingMetrics::record_checkpoint(double seconds) {
  m_->checkpoint_last.set(seconds);
  m_->checkpoint_duration.observe(seconds);
}

void TrainingMetrics::record_collective(const std::string& op, double bytes, double seconds, int world) {
  const double factor = bus_bandwidth_factor(op, world);  // validates op and world first
  std::size_t index = 0;
  while (kCollectives[index] != op) ++index;  // found: bus_bandwidth_factor accepted op
  const auto& c = m_->collective(index);
  if (bytes >= kBandwidthMinBytes) {
    const double alg = algorithm_bandwidth(bytes, seconds);
    c.algbw->set(alg);
    c.busbw->set(alg * factor);
  }
  c.bytes->increment(bytes);
  c.seconds->increment(seconds);
  c.calls->increment();
}

std::string TrainingMetrics::render() const { return render_text(*registry_); }

}  // namespace simcsepp::monitoring
