// bench_chunked_step.cpp - memory and time of one training update with gradient caching
// (TrainStep chunk_size, trainer/chunked_forward_backward.h) against the unchunked update, on
// random tokens with a randomly initialised BERT. One configuration per process, because peak
// RSS only grows: bench/bench_chunked_step.sh runs the batch sweep and prints the table of
// docs/training.md. Not a test.
//
//   bench_chunked_step [--batch 256] [--chunk 64] [--objective simcse++] [--len 32] [--steps 3]
//                      [--warmup 1] [--layers 2] [--hidden 128] [--device cpu|cuda] [--threads N]
// Prints one line: batch, chunk, ms/update, peak RSS (MiB; the whole process, libtorch
// included) and on CUDA the peak allocated device memory (MiB).
#include <sys/resource.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cluster/single_process_communicator.h"
#include "simcsepp/build_config.h"
#include "trainer/train_step.h"
#if SIMCSEPP_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

using namespace simcsepp;

int main(int argc, char** argv) {
  int64_t batch = 256, chunk = 64, len = 32, steps = 3, warmup = 1, layers = 2, hidden = 128, threads = 0;
  std::string device_name = "cpu", objective = "simcse++";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--batch")
      batch = std::atoll(v);
    else if (k == "--chunk")
      chunk = std::atoll(v);
    else if (k == "--objective")
      objective = v;
    else if (k == "--len")
      len = std::atoll(v);
    else if (k == "--steps")
      steps = std::atoll(v);
    else if (k == "--warmup")
      warmup = std::atoll(v);
    else if (k == "--layers")
      layers = std::atoll(v);
    else if (k == "--hidden")
      hidden = std::atoll(v);
    else if (k == "--device")
      device_name = v;
    else if (k == "--threads")
      threads = std::atoll(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 1;
    }
  }
  if (threads > 0) at::set_num_threads(static_cast<int>(threads));
  const torch::Device device(device_name);
  model::BertConfig cfg;
  cfg.num_hidden_layers = layers;
  cfg.hidden_size = hidden;
  cfg.num_attention_heads = std::max<int64_t>(1, hidden / 64);
  cfg.intermediate_size = 4 * hidden;
  torch::manual_seed(0);
  model::SentenceEncoder enc(cfg);
  enc->to(device);
  cluster::SingleProcessCommunicator comm;
  trainer::TrainStepConfig sc;
  sc.objective = model::parse_objective(objective);
  sc.total_steps = warmup + steps;
  sc.mixed_precision = device.is_cuda();
  sc.chunk_size = chunk;
  trainer::TrainStep step(enc, sc, comm);

  data::TokenBatch b;
  b.rows = batch;
  b.max_len = len;
  auto ids = torch::randint(1000, cfg.vocab_size, {batch * len}, torch::kLong);
  b.input_ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
  b.attention_mask.assign(batch * len, 1);
  const int columns = sc.objective.supervised ? 3 : 1;
  const std::vector<std::vector<data::TokenBatch>> micro = {std::vector<data::TokenBatch>(columns, b)};

  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  for (int64_t i = 0; i < warmup; ++i) step.step(micro).loss.item<double>();
  sync();
  const auto t0 = std::chrono::steady_clock::now();
  double loss = 0;
  for (int64_t i = 0; i < steps; ++i) loss = step.step(micro).loss.item<double>();
  sync();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / steps;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double device_mib = 0;
#if SIMCSEPP_HAVE_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : 0);
    constexpr auto kAll = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    device_mib = static_cast<double>(stats.allocated_bytes[kAll].peak) / (1 << 20);
  }
#endif
  std::printf(
      "bench_chunked_step %s device=%s threads=%d layers=%lld hidden=%lld len=%lld batch=%lld chunk=%lld: "
      "%.1f ms/update, peak RSS %.0f MiB, peak device allocated %.0f MiB (last loss %.4f)\n",
      objective.c_str(), device_name.c_str(), at::get_num_threads(), static_cast<long long>(layers),
      static_cast<long long>(hidden), static_cast<long long>(len), static_cast<long long>(batch),
      static_cast<long long>(chunk), ms, static_cast<double>(usage.ru_maxrss) / 1024.0, device_mib, loss);
  return 0;
}
