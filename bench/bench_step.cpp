// bench_step.cpp - time of one SimCSE++ training step (TrainStep: 2N dropout-on + N dropout-off
// sequences, off-dropout + DCL loss, backward, fused AdamW) on random tokens with a randomly
// initialised BERT. Compare with bench/step_reference.py (Hugging Face BertModel, same step) in
// the same session; results in docs/training.md. Not a test.
//
//   bench_step [--batch 64] [--len 32] [--steps 5] [--warmup 2] [--layers 12] [--hidden 768]
//              [--device cpu|cuda] [--threads N] [--objective simcse++]
// DiffCSE objectives (diffcse, diffcse++) add a random generator of half the encoder's layers
// (DistilBERT's 6 for BERT-base's 12) and a random discriminator of the encoder's shape.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cluster/single_process_communicator.h"
#include "simcsepp/build_config.h"
#include "model/mlm_generator.h"
#include "model/rtd_discriminator.h"
#include "trainer/train_step.h"
#if SIMCSEPP_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

using namespace simcsepp;

int main(int argc, char** argv) {
  int64_t batch = 64, len = 32, steps = 5, warmup = 2, layers = 12, hidden = 768, threads = 0;
  std::string device_name = "cpu", objective = "simcse++";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--batch")
      batch = std::atoll(v);
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
    else if (k == "--objective")
      objective = v;
  }
  if (threads > 0) at::set_num_threads(static_cast<int>(threads));
  const torch::Device device(device_name);
  model::BertConfig cfg;  // bert-base-uncased shape unless overridden
  cfg.num_hidden_layers = layers;
  cfg.hidden_size = hidden;
  cfg.num_attention_heads = hidden / 64;
  cfg.intermediate_size = 4 * hidden;
  torch::manual_seed(0);
  model::SentenceEncoder enc(cfg);
  enc->to(device);
  cluster::SingleProcessCommunicator comm;
  trainer::TrainStepConfig sc;
  sc.objective = model::parse_objective(objective);
  if (sc.objective.rtd) {
    auto gen_cfg = cfg;
    gen_cfg.num_hidden_layers = std::max<int64_t>(1, layers / 2);
    sc.rtd = std::make_shared<trainer::RtdParts>();
    sc.rtd->generator = model::MlmGenerator(gen_cfg, "distilbert");
    sc.rtd->generator->to(device);
    for (auto& p : sc.rtd->generator->parameters()) p.set_requires_grad(false);
    sc.rtd->discriminator = model::RtdDiscriminator(cfg);
    sc.rtd->discriminator->to(device);
  }
  sc.total_steps = warmup + steps;
  sc.mixed_precision = device.is_cuda();
  trainer::TrainStep step(enc, sc, comm);

  data::TokenBatch b;
  b.rows = batch;
  b.max_len = len;
  auto ids = torch::randint(1000, 30000, {batch * len}, torch::kLong);
  b.input_ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
  b.attention_mask.assign(batch * len, 1);
  const std::vector<std::vector<data::TokenBatch>> micro = {{b}};

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
  std::printf(
      "simcsepp TrainStep %s device=%s threads=%d batch=%lld len=%lld layers=%lld hidden=%lld: "
      "%.1f ms/step (last loss %.4f)\n",
      objective.c_str(), device_name.c_str(), at::get_num_threads(), static_cast<long long>(batch), static_cast<long long>(len),
      static_cast<long long>(layers), static_cast<long long>(hidden), ms, loss);
#if SIMCSEPP_HAVE_CUDA
  if (device.is_cuda()) {
    // Peak over the whole run (warm-up included), as step_reference.py reports it.
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : 0);
    constexpr auto kAll = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    std::printf("simcsepp peak memory: allocated %.1f MiB, reserved %.1f MiB\n",
                static_cast<double>(stats.allocated_bytes[kAll].peak) / (1 << 20),
                static_cast<double>(stats.reserved_bytes[kAll].peak) / (1 << 20));
  }
#endif
  return 0;
}
