// bench_checkpoint.cpp - how long a checkpoint blocks the training step: the synchronous write
// (--sync-checkpoints) against the background write (snapshot only, async_checkpoint_writer.h),
// through save_training_checkpoint itself, for the all-MiniLM-L6-v2 shape (6 x 384) and the
// BERT-base shape (12 x 768) with AdamW state after one real step. Results in docs/training.md.
// Not a test.
//
//   bench_checkpoint [--dir /tmp/simcsepp-bench-ckpt] [--repeats 3] [--device cpu|cuda]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/remove_tree.h"
#include "cluster/single_process_communicator.h"
#include "trainer/checkpoint/async_checkpoint_writer.h"
#include "trainer/train_step.h"
#include "trainer/checkpoint/training_checkpoint.h"

using namespace simcsepp;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/simcsepp-bench-ckpt", device_name = "cpu";
  int repeats = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--dir") dir = argv[i + 1];
    if (k == "--repeats") repeats = std::atoi(argv[i + 1]);
    if (k == "--device") device_name = argv[i + 1];
  }
  const torch::Device device(device_name);
  struct Shape {
    const char* name;
    int64_t layers, hidden, heads;
  };
  std::printf(
      "| model | state (MB) | sync write: step blocked (s) | background: step blocked (s) | background write (s) | "
      "blocked ratio |\n|---|---|---|---|---|---|\n");
  for (const Shape& s :
       {Shape{"all-MiniLM-L6-v2 shape (6 x 384)", 6, 384, 12}, Shape{"BERT-base (12 x 768)", 12, 768, 12}}) {
    model::BertConfig cfg;
    cfg.num_hidden_layers = s.layers;
    cfg.hidden_size = s.hidden;
    cfg.num_attention_heads = s.heads;
    cfg.intermediate_size = 4 * s.hidden;
    torch::manual_seed(0);
    model::SentenceEncoder enc(cfg);
    enc->to(device);
    cluster::SingleProcessCommunicator comm;
    trainer::TrainStepConfig sc;
    sc.objective = model::parse_objective("simcse++");
    sc.total_steps = 10;
    trainer::TrainStep step(enc, sc, comm);
    data::TokenBatch b;  // one real update, so the AdamW moments exist
    b.rows = 4;
    b.max_len = 16;
    auto ids = torch::randint(1000, 30000, {b.rows * b.max_len}, torch::kLong);
    b.input_ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
    b.attention_mask.assign(b.rows * b.max_len, 1);
    step.step({{b}}).loss.item<double>();

    const nlohmann::json config = {{"bench", s.name}};
    trainer::TrainProgress progress;
    std::vector<double> sync_blocked, async_blocked, async_write;
    for (int r = 0; r < repeats; ++r) {
      progress.step = 2 * r + 1;
      auto t0 = std::chrono::steady_clock::now();
      trainer::save_training_checkpoint(dir, step, comm, progress, config, 2);
      sync_blocked.push_back(seconds_since(t0));

      double written = 0;
      trainer::AsyncCheckpointWriter writer([&](const std::string&, double sec) { written = sec; });
      progress.step = 2 * r + 2;
      t0 = std::chrono::steady_clock::now();
      trainer::save_training_checkpoint(dir, step, comm, progress, config, 2, &writer);
      async_blocked.push_back(seconds_since(t0));
      writer.wait();
      async_write.push_back(written);
    }
    double mb = 0;
    for (const auto& p : enc->parameters()) mb += 3.0 * p.numel() * 4 / 1e6;  // weights + 2 AdamW moments
    std::printf("| %s | %.0f | %.3f | %.3f | %.3f | %.3f |\n", s.name, mb, median(sync_blocked), median(async_blocked),
                median(async_write), median(async_blocked) / median(sync_blocked));
    std::fflush(stdout);
  }
  remove_tree(dir);
  return 0;
}
