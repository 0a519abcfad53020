// training_metrics.cpp - the metric families of a SimCSE++ run and their updates.
//
// Names follow Prometheus conventions: simcsepp_ prefix, base units (seconds, bytes, ratio),
// _total for counters. Every sample carries the constant labels rank, local_rank, host and
// run_id. docs/monitoring.md lists them; the dashboard and alert rules only use these names
// (tests/python/monitoring_names_check.py enforces it).
//
// Storage: families, labels and series are prometheus-cpp's (a prometheus::Registry inside a
// HotPathCollectable); what record_* updates are the collectable's relaxed hot values and
// simcsepp's lock-free histograms, copied into prometheus-cpp when a scrape collects
// (prometheus_cpp/hot_path_collectable.h says why). Built only with prometheus-cpp; without it,
// training_metrics_unavailable.cpp records nothing and serves nothing.
#include "simcsepp/build_config.h"

#if SIMCSEPP_HAVE_PROMETHEUS_CPP

#include <prometheus/family.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <sstream>

#include "base/error.h"
#include "base/log.h"
#include "monitoring/bus_bandwidth.h"
#include "monitoring/lock_free_histogram.h"
#include "monitoring/prometheus_cpp/hot_path_collectable.h"
#include "monitoring/prometheus_cpp/metrics_exposer.h"
#include "monitoring/training_metrics.h"

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

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;

// A family with the run's constant labels and the series' own label names.
Family<Gauge>& gauge_family(prometheus::Registry& r, const prometheus::Labels& constant, const std::string& name,
                            const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Labels(constant).Register(r);
}
Family<Counter>& counter_family(prometheus::Registry& r, const prometheus::Labels& constant, const std::string& name,
                                const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Labels(constant).Register(r);
}
// A family with one series (the constant labels only) and its hot value.
HotGauge& gauge(HotPathCollectable& h, const prometheus::Labels& constant, const std::string& name,
                const std::string& help) {
  return h.hot(gauge_family(h.registry(), constant, name, help).Add({}));
}
HotCounter& counter(HotPathCollectable& h, const prometheus::Labels& constant, const std::string& name,
                    const std::string& help) {
  return h.hot(counter_family(h.registry(), constant, name, help).Add({}));
}

}  // namespace

// References into prometheus-cpp's registry and the histograms, resolved once so record_* never looks anything up.
namespace {

struct Metrics {
  Metrics(HotPathCollectable& h, const prometheus::Labels& c)
      : build_info(h.hot(gauge_family(h.registry(), c, "simcsepp_build_info",
                                      "Always 1; the version label says which simcsepp build runs.")
                             .Add({{"version", SIMCSEPP_VERSION}}))),
        start_time(gauge(h, c, "simcsepp_start_time_seconds", "Unix time this rank's metrics started.")),
        world_size(gauge(h, c, "simcsepp_world_size", "Number of ranks in the run.")),
        global_step(gauge(h, c, "simcsepp_global_step", "Global optimizer step of the last recorded step.")),
        epoch(gauge(h, c, "simcsepp_epoch", "Epoch of the last recorded step (fractional).")),
        steps(counter(h, c, "simcsepp_steps_total", "Optimizer steps recorded by this rank (skipped ones included).")),
        skipped_steps(counter(h, c, "simcsepp_skipped_steps_total",
                              "Steps whose update was skipped (non-finite loss or gradients).")),
        heartbeat(gauge(h, c, "simcsepp_last_step_timestamp_seconds", "Unix time the last step finished (heartbeat).")),
        loss(gauge(h, c, "simcsepp_train_loss", "Total training loss of the last step (NaN/Inf when non-finite).")),
        instance_loss(gauge(h, c, "simcsepp_train_instance_loss",
                            "Off-dropout instance-discrimination part of the last step's loss.")),
        dcl_loss(
            gauge(h, c, "simcsepp_train_dcl_loss", "Dimension-wise contrastive (DCL) part of the last step's loss.")),
        rtd_loss(gauge(h, c, "simcsepp_train_rtd_loss",
                       "DiffCSE's replaced-token-detection loss of the last step, before lambda (NaN: not DiffCSE).")),
        rtd_accuracy(gauge(h, c, "simcsepp_train_rtd_accuracy",
                           "Share of this rank's tokens the DiffCSE discriminator classified right in the last step.")),
        learning_rate(gauge(h, c, "simcsepp_learning_rate", "Learning rate used by the last step.")),
        grad_norm(gauge(h, c, "simcsepp_gradient_norm",
                        "Global L2 norm of the gradients of the last step, before clipping.")),
        step_seconds(gauge(h, c, "simcsepp_step_seconds", "Wall time of the last step.")),
        step_duration(h.histogram("simcsepp_step_duration_seconds", "Wall time of training steps.",
                                  exponential_buckets(0.001, 2, 18))),
        phase_last(
            gauge_family(h.registry(), c, "simcsepp_step_phase_seconds", "Time of the last step spent in each phase.")),
        phase_total(counter_family(h.registry(), c, "simcsepp_step_phase_seconds_total",
                                   "Cumulative step time spent in each phase.")),
        sentences(counter(h, c, "simcsepp_sentences_total", "Sentences processed by this rank.")),
        tokens(counter(h, c, "simcsepp_tokens_total", "Non-padding tokens processed by this rank.")),
        sentences_per_second(
            gauge(h, c, "simcsepp_sentences_per_second", "Sentences per second of this rank in the last step.")),
        tokens_per_second(
            gauge(h, c, "simcsepp_tokens_per_second", "Tokens per second of this rank in the last step.")),
        model_flops(gauge(h, c, "simcsepp_model_flops_per_second",
                          "Model FLOP/s of this rank in the last step (matmul FLOPs of the padded batch).")),
        mfu(gauge(h, c, "simcsepp_model_flops_utilization_ratio",
                  "Model FLOP utilisation of the last step: achieved / peak FLOP/s of the GPU.")),
        queue_depth(gauge(h, c, "simcsepp_data_queue_depth", "Batches ready in the data reader's prefetch queue.")),
        data_read_bytes(counter(h, c, "simcsepp_data_read_bytes_total",
                                "Bytes this rank's data reader read from corpus shard files (HDF5 metadata included).")),
        data_shards_opened(counter(h, c, "simcsepp_data_shards_opened_total",
                                   "Corpus shard files this rank's data reader opened.")),
        effective_rank(gauge(h, c, "simcsepp_embedding_effective_rank",
                             "Effective rank (Roy & Vetterli) of the last batch's embedding matrix.")),
        gpu_used(gauge(h, c, "simcsepp_gpu_memory_used_bytes", "GPU memory allocated by tensors.")),
        gpu_reserved(
            gauge(h, c, "simcsepp_gpu_memory_reserved_bytes", "GPU memory reserved by the caching allocator.")),
        busbw(
            gauge_family(h.registry(), c, "simcsepp_collective_bus_bandwidth_bytes_per_second",
                         "Bus bandwidth of the last collective of each kind of at least 64 KiB (nccl-tests formula).")),
        algbw(
            gauge_family(h.registry(), c, "simcsepp_collective_algorithm_bandwidth_bytes_per_second",
                         "Algorithm bandwidth (size / time) of the last collective of each kind of at least 64 KiB.")),
        collective_bytes(counter_family(h.registry(), c, "simcsepp_collective_bytes_total",
                                        "Bytes moved by collectives (nccl-tests size).")),
        collective_seconds(
            counter_family(h.registry(), c, "simcsepp_collective_seconds_total", "Time spent in collectives.")),
        collective_calls(
            counter_family(h.registry(), c, "simcsepp_collective_calls_total", "Collective calls recorded.")),
        dev_spearman(
            gauge(h, c, "simcsepp_dev_spearman", "Spearman correlation on the STS-B dev set at the last evaluation.")),
        dev_spearman_best(gauge(h, c, "simcsepp_dev_spearman_best", "Best STS-B dev Spearman correlation so far.")),
        dev_alignment(gauge(h, c, "simcsepp_dev_alignment",
                            "Alignment (Wang & Isola) of dev positive pairs at the last evaluation; lower is better.")),
        dev_uniformity(gauge(h, c, "simcsepp_dev_uniformity",
                             "Uniformity (Wang & Isola) of dev embeddings at the last evaluation; lower is better.")),
        dev_step(gauge(h, c, "simcsepp_dev_eval_step", "Global step of the last dev evaluation.")),
        evaluations(counter(h, c, "simcsepp_dev_evaluations_total", "Dev evaluations run.")),
        checkpoint_last(
            gauge(h, c, "simcsepp_checkpoint_last_write_seconds", "Time the last checkpoint took to write.")),
        checkpoint_blocked(gauge(h, c, "simcsepp_checkpoint_last_blocked_seconds",
                                 "Time the training step was blocked by the last checkpoint (the snapshot when "
                                 "the write runs in the background).")),
        checkpoint_duration(h.histogram("simcsepp_checkpoint_write_duration_seconds", "Time checkpoints took to write.",
                                        exponential_buckets(0.1, 2, 12))) {
    for (std::size_t i = 0; i < kPhases.size(); ++i) {
      phase_last_of[i] = &h.hot(phase_last.Add({{"phase", kPhases[i]}}));
      phase_total_of[i] = &h.hot(phase_total.Add({{"phase", kPhases[i]}}));
    }
    collective(h, 0);
    collective(h, 1);
  }

  struct Collective {
    HotGauge* busbw;
    HotGauge* algbw;
    HotCounter* bytes;
    HotCounter* seconds;
    HotCounter* calls;
  };
  // The metrics of kCollectives[index]: created (under the collectable's mutex) on first use,
  // then read lock-free, so the per-step record_collective never waits for a scrape.
  const Collective& collective(HotPathCollectable& h, std::size_t index) {
    if (const Collective* c = collectives[index].load(std::memory_order_acquire)) return *c;
    std::lock_guard<std::mutex> lock(collective_mutex);
    if (const Collective* c = collectives[index].load(std::memory_order_acquire)) return *c;
    const std::string op = kCollectives[index];
    collective_storage[index] = std::make_unique<Collective>(Collective{
        &h.hot(busbw.Add({{"op", op}})), &h.hot(algbw.Add({{"op", op}})), &h.hot(collective_bytes.Add({{"op", op}})),
        &h.hot(collective_seconds.Add({{"op", op}})), &h.hot(collective_calls.Add({{"op", op}}))});
    collectives[index].store(collective_storage[index].get(), std::memory_order_release);
    return *collective_storage[index];
  }

  HotGauge& build_info;
  HotGauge& start_time;
  HotGauge& world_size;
  HotGauge& global_step;
  HotGauge& epoch;
  HotCounter& steps;
  HotCounter& skipped_steps;
  HotGauge& heartbeat;
  HotGauge& loss;
  HotGauge& instance_loss;
  HotGauge& dcl_loss;
  HotGauge& rtd_loss;
  HotGauge& rtd_accuracy;
  HotGauge& learning_rate;
  HotGauge& grad_norm;
  HotGauge& step_seconds;
  LockFreeHistogram& step_duration;
  Family<Gauge>& phase_last;
  Family<Counter>& phase_total;
  HotCounter& sentences;
  HotCounter& tokens;
  HotGauge& sentences_per_second;
  HotGauge& tokens_per_second;
  HotGauge& model_flops;
  HotGauge& mfu;
  HotGauge& queue_depth;
  HotCounter& data_read_bytes;
  HotCounter& data_shards_opened;
  HotGauge& effective_rank;
  HotGauge& gpu_used;
  HotGauge& gpu_reserved;
  Family<Gauge>& busbw;
  Family<Gauge>& algbw;
  Family<Counter>& collective_bytes;
  Family<Counter>& collective_seconds;
  Family<Counter>& collective_calls;
  HotGauge& dev_spearman;
  HotGauge& dev_spearman_best;
  HotGauge& dev_alignment;
  HotGauge& dev_uniformity;
  HotGauge& dev_step;
  HotCounter& evaluations;
  HotGauge& checkpoint_last;
  HotGauge& checkpoint_blocked;
  LockFreeHistogram& checkpoint_duration;

  std::array<HotGauge*, kPhases.size()> phase_last_of{};
  std::array<HotCounter*, kPhases.size()> phase_total_of{};
  std::array<std::atomic<const Collective*>, kCollectives.size()> collectives{};
  std::array<std::unique_ptr<Collective>, kCollectives.size()> collective_storage;
  std::mutex collective_mutex;
  std::mutex eval_mutex;  // record_eval is rare; keeps "best" consistent across threads
  bool have_best = false;
};

}  // namespace

struct TrainingMetrics::Impl {
  std::shared_ptr<HotPathCollectable> collectable;  // the registry, hot values, histograms
  std::unique_ptr<Metrics> m;
  std::unique_ptr<MetricsExposer> exposer;  // declared last: stops before what it serves goes
};

TrainingMetrics::TrainingMetrics(const MetricsOptions& options) : options_(options), impl_(std::make_unique<Impl>()) {
  if (options_.host.empty()) options_.host = local_host_name();
  if (options_.enabled &&
      (options_.base_port < 0 || options_.base_port + options_.local_rank > 65535 || options_.local_rank < 0)) {
    throw Error("metrics port " + std::to_string(options_.base_port) + " + local rank " +
                    std::to_string(options_.local_rank) + " is not a TCP port",
                "metrics base port", "choose a base port between 1024 and 65535 - ranks per node (0 = any free port)");
  }
  const prometheus::Labels constant = {{"rank", std::to_string(options_.rank)},
                                       {"local_rank", std::to_string(options_.local_rank)},
                                       {"host", options_.host},
                                       {"run_id", options_.run_id}};
  impl_->collectable = std::make_shared<HotPathCollectable>(constant);
  impl_->m = std::make_unique<Metrics>(*impl_->collectable, constant);
  Metrics& m = *impl_->m;
  m.build_info.set(1);
  m.start_time.set(unix_now());
  m.world_size.set(options_.world_size);
  for (HotGauge* g : {&m.loss, &m.instance_loss, &m.dcl_loss, &m.rtd_loss, &m.rtd_accuracy, &m.grad_norm, &m.dev_spearman, &m.dev_spearman_best,
                      &m.dev_alignment, &m.dev_uniformity, &m.model_flops, &m.mfu, &m.effective_rank}) {
    g->set(std::nan(""));  // "not measured yet", distinct from a real 0
  }
  if (options_.enabled) {
    const int port = options_.base_port == 0 ? 0 : options_.base_port + options_.local_rank;
    impl_->exposer = std::make_unique<MetricsExposer>(
        options_.bind_address, port, std::vector<std::shared_ptr<prometheus::Collectable>>{impl_->collectable});
  }
}

TrainingMetrics::~TrainingMetrics() = default;

std::string TrainingMetrics::endpoint() const {
  if (!impl_->exposer) return "";
  // A wildcard bind is reachable under the host name; a specific address under itself.
  const bool wildcard =
      options_.bind_address == "0.0.0.0" || options_.bind_address == "::" || options_.bind_address.empty();
  const std::string host = wildcard ? options_.host : options_.bind_address;
  const std::string bracketed = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return bracketed + ":" + std::to_string(impl_->exposer->port());
}

std::map<std::string, std::string> TrainingMetrics::target_labels() const { return {{"run_id", options_.run_id}}; }

void TrainingMetrics::record_step(const StepRecord& r) {
  Metrics& m = *impl_->m;
  m.global_step.set(double(r.step));
  if (r.epoch) m.epoch.set(*r.epoch);
  m.steps.increment();
  if (r.skipped) m.skipped_steps.increment();
  m.loss.set(r.loss);
  if (r.instance_loss) m.instance_loss.set(*r.instance_loss);
  if (r.dcl_loss) m.dcl_loss.set(*r.dcl_loss);
  if (r.rtd_loss) m.rtd_loss.set(*r.rtd_loss);
  if (r.rtd_accuracy) m.rtd_accuracy.set(*r.rtd_accuracy);
  m.learning_rate.set(r.learning_rate);
  if (r.grad_norm) m.grad_norm.set(*r.grad_norm);

  m.step_seconds.set(r.step_seconds);
  m.step_duration.observe(r.step_seconds);
  const std::array<double, kPhases.size()> phases = {r.data_wait_seconds, r.forward_seconds, r.backward_seconds,
                                                     r.communication_seconds, r.optimizer_seconds};
  for (std::size_t i = 0; i < phases.size(); ++i) {
    m.phase_last_of[i]->set(phases[i]);
    m.phase_total_of[i]->add(phases[i]);
  }

  m.sentences.add(double(r.sentences));
  m.tokens.add(double(r.tokens));
  if (r.step_seconds > 0) {
    m.sentences_per_second.set(double(r.sentences) / r.step_seconds);
    m.tokens_per_second.set(double(r.tokens) / r.step_seconds);
  }
  if (r.model_flops_per_second) m.model_flops.set(*r.model_flops_per_second);
  if (r.model_flops_utilization) m.mfu.set(*r.model_flops_utilization);
  if (r.data_queue_depth) m.queue_depth.set(*r.data_queue_depth);
  m.data_read_bytes.add(double(r.data_bytes_read));
  m.data_shards_opened.add(double(r.data_shards_opened));
  if (r.effective_rank) m.effective_rank.set(*r.effective_rank);
  if (r.gpu_memory_used_bytes) m.gpu_used.set(*r.gpu_memory_used_bytes);
  if (r.gpu_memory_reserved_bytes) m.gpu_reserved.set(*r.gpu_memory_reserved_bytes);
  // Last: a scrape that sees the new heartbeat sees the rest of this step too.
  m.heartbeat.set(r.timestamp_seconds ? *r.timestamp_seconds : unix_now());
}

void TrainingMetrics::record_eval(const EvalRecord& r) {
  Metrics& m = *impl_->m;
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
  impl_->m->checkpoint_last.set(seconds);
  impl_->m->checkpoint_duration.observe(seconds);
}

void TrainingMetrics::record_checkpoint_blocked(double seconds) { impl_->m->checkpoint_blocked.set(seconds); }

void TrainingMetrics::record_collective(const std::string& op, double bytes, double seconds, int world) {
  const double factor = bus_bandwidth_factor(op, world);  // validates op and world first
  std::size_t index = 0;
  while (kCollectives[index] != op) ++index;  // found: bus_bandwidth_factor accepted op
  const auto& c = impl_->m->collective(*impl_->collectable, index);
  if (bytes >= kBandwidthMinBytes) {
    const double alg = algorithm_bandwidth(bytes, seconds);
    c.algbw->set(alg);
    c.busbw->set(alg * factor);
  }
  c.bytes->add(bytes);
  c.seconds->add(seconds);
  c.calls->increment();
}

std::string TrainingMetrics::render() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, impl_->collectable->Collect());
  return out.str();
}

}  // namespace simcsepp::monitoring

#endif  // SIMCSEPP_HAVE_PROMETHEUS_CPP
