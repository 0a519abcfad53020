// bench_step.cpp - time of one SimCSE++ training step (TrainStep: 2N dropout-on + N dropout-off
// sequences, off-dropout + DCL loss, backward, fused AdamW) on random tokens with a randomly
// initialised BERT. bench/step_anchors.py runs it next to the Python anchors (bench/step_reference.py,
// Hugging Face BertModel, same step) and prints one table; results in docs/performance.md. Not a test.
//
//   bench_step [--batch 64] [--len 32] [--steps 5] [--warmup 2] [--layers 12] [--hidden 768]
//              [--device cpu|cuda] [--threads N] [--objective simcse++] [--json] [--flops-only]
//              [--cuda-graphs] [--fused-off-call]
// --json: one JSON line on stdout instead of the text lines: every timed step's ms (each step ends
//   with the loss's .item(), a device sync, so the samples are whole steps), their median, the
//   set-up + warm-up seconds, peak memory (CUDA: the caching allocator's peak allocated and
//   reserved bytes over the whole run, warm-up included; CPU: the process's peak RSS, libtorch
//   included), the model FLOPs of one step (model::training_step_flops: matmuls only, padded
//   length) and the device's dense peak FLOP/s when known (model::peak_flops_per_second, else 0).
// --flops-only: with --json, print the FLOP count and peak without building a model or stepping.
// --cuda-graphs: the captured step (trainer/cuda_graph_update.h): the warm-up is at least the
//   step's eager warm-up + the capture, so every timed step is a replay (the JSON says how many
//   were). Where it cannot capture (CPU, a build without CUDA) it exits 3 naming the reason, so the
//   driver reports that row as not available instead of inventing one.
// --fused-off-call: the dropout-on and dropout-off sequences in one encoder call
//   (--off-dropout-call fused, model/objective_forward.h); the JSON's "off_dropout_call" says which.
// DiffCSE objectives (diffcse, diffcse++) add a random generator of half the encoder's layers
// (DistilBERT's 6 for BERT-base's 12) and a random discriminator of the encoder's shape.
#include <sys/resource.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "cluster/single_process_communicator.h"
#include "model/flop_count.h"
#include "model/mlm_generator.h"
#include "model/rtd_discriminator.h"
#include "simcsepp/build_config.h"
#include "trainer/cuda_graph_update.h"
#include "trainer/train_step.h"
#if SIMCSEPP_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

using namespace simcsepp;

namespace {

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr,
               "bench_step: %s\n"
               "usage: bench_step [--batch N] [--len L] [--steps S] [--warmup W] [--layers K] [--hidden H]\n"
               "                  [--device cpu|cuda] [--threads T] [--objective NAME] [--json] [--flops-only]\n"
               "                  [--cuda-graphs] [--fused-off-call]\n",
               what.c_str());
  std::exit(2);
}

int64_t to_int(const std::string& flag, const char* v) {
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  if (end == v || *end != '\0' || x < 0) usage_error(flag + " wants a non-negative integer, got '" + v + "'");
  return x;
}

// Non-finite numbers as JSON null (json.loads would accept NaN, but other readers do not).
std::string num(double x, int digits = 9) {
  if (!std::isfinite(x)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, x);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t batch = 64, len = 32, steps = 5, warmup = 2, layers = 12, hidden = 768, threads = 0;
  std::string device_name = "cpu", objective = "simcse++";
  bool json = false, flops_only = false, cuda_graphs = false, fused_off_call = false;
  // Flags are checked: an unknown or misspelt one must not silently benchmark the default shape.
  std::map<std::string, int64_t*> ints = {{"--batch", &batch},   {"--len", &len},       {"--steps", &steps},
                                          {"--warmup", &warmup}, {"--layers", &layers}, {"--hidden", &hidden},
                                          {"--threads", &threads}};
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--json") {
      json = true;
    } else if (k == "--flops-only") {
      flops_only = true;
    } else if (k == "--cuda-graphs") {
      cuda_graphs = true;
    } else if (k == "--fused-off-call") {
      fused_off_call = true;
    } else if (k == "--device" || k == "--objective" || ints.count(k)) {
      if (i + 1 >= argc) usage_error(k + " needs a value");
      const char* v = argv[++i];
      if (k == "--device")
        device_name = v;
      else if (k == "--objective")
        objective = v;
      else
        *ints[k] = to_int(k, v);
    } else {
      usage_error("unknown argument '" + k + "'");
    }
  }
  if (batch < 2 || len < 1 || steps < 1 || layers < 1 || hidden < 64 || hidden % 64 != 0)
    usage_error("need --batch >= 2, --len >= 1, --steps >= 1, --layers >= 1, --hidden a multiple of 64");
  if (flops_only && !json) usage_error("--flops-only needs --json");
  if (threads > 0) at::set_num_threads(static_cast<int>(threads));
  const torch::Device device(device_name);
  model::BertConfig cfg;  // bert-base-uncased shape unless overridden
  cfg.num_hidden_layers = layers;
  cfg.hidden_size = hidden;
  cfg.num_attention_heads = hidden / 64;
  cfg.intermediate_size = 4 * hidden;
  trainer::TrainStepConfig sc;
  sc.objective = model::parse_objective(objective);
  sc.total_steps = warmup + steps;
  sc.mixed_precision = device.is_cuda();
  sc.cuda_graphs = cuda_graphs;
  sc.fuse_off_dropout = fused_off_call;
  if (cuda_graphs) warmup = std::max<int64_t>(warmup, sc.cuda_graph_warmup + 1);

  // Model FLOPs (the same count the trainer's MFU uses) and the device's peak, for the driver.
  auto gen_cfg = cfg;
  gen_cfg.num_hidden_layers = std::max<int64_t>(1, layers / 2);
  const double flops = model::training_step_flops(cfg, sc.objective, batch, len, 1, sc.pooler) +
                       (sc.objective.rtd ? model::rtd_step_flops(gen_cfg, cfg, batch, len) : 0.0);
  std::string gpu_name;
  double peak = 0.0;
#if SIMCSEPP_HAVE_CUDA
  if (device.is_cuda()) {
    gpu_name = at::cuda::getDeviceProperties(device.has_index() ? device.index() : 0)->name;
    peak = model::peak_flops_per_second(gpu_name, sc.mixed_precision);
  }
#endif
  const std::string head = std::string("{\"impl\": \"") + (cuda_graphs ? "simcsepp captured" : "simcsepp eager") + "\", \"device\": \"" + device_name + "\", \"gpu_name\": \"" +
                           gpu_name + "\", \"objective\": \"" + objective + "\", \"batch\": " + std::to_string(batch) +
                           ", \"len\": " + std::to_string(len) + ", \"layers\": " + std::to_string(layers) +
                           ", \"hidden\": " + std::to_string(hidden) + ", \"model_flops_per_step\": " + num(flops, 17) +
                           ", \"peak_flops\": " + num(peak) +
                           ", \"off_dropout_call\": \"" + (fused_off_call ? "fused" : "separate") + "\"";
  if (flops_only) {
    std::printf("%s}\n", head.c_str());
    return 0;
  }

  const auto t_setup = std::chrono::steady_clock::now();
  torch::manual_seed(0);
  model::SentenceEncoder enc(cfg);
  enc->to(device);
  cluster::SingleProcessCommunicator comm;
  if (sc.objective.rtd) {
    sc.rtd = std::make_shared<trainer::RtdParts>();
    sc.rtd->generator = model::MlmGenerator(gen_cfg, "distilbert");
    sc.rtd->generator->to(device);
    for (auto& p : sc.rtd->generator->parameters()) p.set_requires_grad(false);
    sc.rtd->discriminator = model::RtdDiscriminator(cfg);
    sc.rtd->discriminator->to(device);
  }
  trainer::TrainStep step(enc, sc, comm);
  if (cuda_graphs && !step.cuda_graph_fallback().empty()) {
    std::fprintf(stderr, "bench_step: --cuda-graphs: not available: %s\n", step.cuda_graph_fallback().c_str());
    return 3;
  }

  data::TokenBatch b;
  b.rows = batch;
  b.max_len = len;
  auto ids = torch::randint(1000, 30000, {batch * len}, torch::kLong);
  b.input_ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
  b.attention_mask.assign(batch * len, 1);
  const std::vector<std::vector<data::TokenBatch>> micro = {{b}};

  // Every step ends with .item() on the loss: a device sync, so each sample is one whole step.
  for (int64_t i = 0; i < warmup; ++i) step.step(micro).loss.item<double>();
  const double warmup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_setup).count();
  std::vector<double> ms;
  double loss = 0;
  for (int64_t i = 0; i < steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    loss = step.step(micro).loss.item<double>();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  auto sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  const double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  double mean = 0;
  for (double x : ms) mean += x / static_cast<double>(n);

  double peak_mib = 0, reserved_mib = -1;
  std::string peak_kind = "cpu_peak_rss";
#if SIMCSEPP_HAVE_CUDA
  if (device.is_cuda()) {
    // Peak over the whole run (warm-up included), as step_reference.py reports it.
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : 0);
    constexpr auto kAll = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    peak_mib = static_cast<double>(stats.allocated_bytes[kAll].peak) / (1 << 20);
    reserved_mib = static_cast<double>(stats.reserved_bytes[kAll].peak) / (1 << 20);
    peak_kind = "cuda_max_allocated";
  }
#endif
  if (!device.is_cuda()) {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    peak_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: KiB
  }

  const auto* captured = step.captured_update();
  const long long replays = captured ? captured->replays() : 0;
  const long long eager_updates = captured ? captured->eager_updates() : warmup + steps;
  if (json) {
    std::string samples;
    for (size_t i = 0; i < ms.size(); ++i) samples += (i ? ", " : "") + num(ms[i]);
    std::printf(
        "%s, \"threads\": %d, \"steps\": %lld, \"warmup\": %lld, \"ms_samples\": [%s], \"ms_median\": %s, "
        "\"ms_mean\": %s, \"warmup_s\": %s, \"peak_mem_mib\": %s, \"peak_mem_kind\": \"%s\", "
        "\"peak_reserved_mib\": %s, \"last_loss\": %s, \"replays\": %lld, \"eager_updates\": %lld}\n",
        head.c_str(), at::get_num_threads(), static_cast<long long>(steps), static_cast<long long>(warmup),
        samples.c_str(), num(median).c_str(), num(mean).c_str(), num(warmup_s).c_str(), num(peak_mib).c_str(),
        peak_kind.c_str(), reserved_mib < 0 ? "null" : num(reserved_mib).c_str(), num(loss).c_str(), replays,
        eager_updates);
    return 0;
  }
  std::printf(
      "simcsepp TrainStep %s device=%s threads=%d batch=%lld len=%lld layers=%lld hidden=%lld: "
      "%.1f ms/step median (mean %.1f, last loss %.4f)\n",
      objective.c_str(), device_name.c_str(), at::get_num_threads(), static_cast<long long>(batch),
      static_cast<long long>(len), static_cast<long long>(layers), static_cast<long long>(hidden), median, mean, loss);
  if (device.is_cuda())
    std::printf("simcsepp peak memory: allocated %.1f MiB, reserved %.1f MiB\n", peak_mib, reserved_mib);
  else
    std::printf("simcsepp peak RSS: %.1f MiB\n", peak_mib);
  return 0;
}
