// metrics_driver.cpp - a stand-in for the trainer in monitoring's service tests: N ranks' worth
// of TrainingMetrics in one process, fed synthetic SimCSE++ steps, so a real Prometheus can
// scrape them. (The real trainer feeds the same API; this driver knows no training logic.)
//
//   monitoring_metrics_driver serve --run-dir DIR [--ranks 2] [--run-id ID] [--step-ms 50]
//       Serves each rank on 127.0.0.1 (any free port), writes DIR/prometheus_targets.json,
//       prints "ready" and records a step per rank every step-ms. Reads commands on stdin:
//       "nan" - from now on the loss is NaN (and steps are skipped); "regress" - dev Spearman
//       drops by 0.1; "stall" - stop stepping; "quit" or end of input - exit. Rank 1 is made a straggler (busy 1.5x
//       longer).
//   monitoring_metrics_driver dump
//       Prints one rank's exposition text after a few synthetic steps (names check).
//   monitoring_metrics_driver diagnostics FILE
//       FILE: "k", then k singular values. Prints {"effective_rank": ...} (parity check vs torch).
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "monitoring/embedding_diagnostics.h"
#include "monitoring/file_sd.h"
#include "monitoring/training_metrics.h"

namespace {

using namespace simcsepp::monitoring;

std::map<std::string, std::string> parse_flags(int argc, char** argv, int first) {
  std::map<std::string, std::string> flags;
  for (int i = first; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0)
      throw simcsepp::Error("expected --flag, got " + key, key, "see the header of metrics_driver.cpp");
    flags[key.substr(2)] = argv[i + 1];
  }
  return flags;
}

// A plausible step of `rank` at `step`: loss decays, rank 1 computes slower.
StepRecord synthetic_step(int rank, std::int64_t step, bool nan_loss) {
  StepRecord r;
  r.step = step;
  const double decay = std::exp(-double(step) / 500.0);
  r.instance_loss = 0.5 + 2.0 * decay;
  r.dcl_loss = 0.1 + 0.4 * decay;
  r.loss = nan_loss ? std::nan("") : *r.instance_loss + *r.dcl_loss;
  r.skipped = nan_loss;
  r.learning_rate = 3e-5 * std::min(1.0, double(step) / 100.0);
  r.grad_norm = 1.0 + decay;
  const double slow = rank == 1 ? 1.5 : 1.0;
  r.data_wait_seconds = 0.002;
  r.forward_seconds = 0.010 * slow;
  r.backward_seconds = 0.020 * slow;
  r.optimizer_seconds = 0.003 * slow;
  // Fast ranks wait for the straggler inside the all-reduce.
  r.communication_seconds = rank == 1 ? 0.004 : 0.004 + 0.5 * 0.033;
  r.step_seconds =
      r.data_wait_seconds + r.forward_seconds + r.backward_seconds + r.optimizer_seconds + r.communication_seconds;
  r.sentences = 64;
  r.tokens = 64 * 24;
  r.data_queue_depth = 4;
  r.data_bytes_read = step % 10 == 1 ? 4 << 20 : 0;  // a shard every 10 steps
  r.data_shards_opened = step % 10 == 1 ? 1 : 0;
  r.model_flops_utilization = 0.42;
  r.model_flops_per_second = 0.42 * 989e12;
  r.effective_rank = 300.0 + 100.0 * (1.0 - decay);
  r.gpu_memory_used_bytes = 3.5e9;
  r.gpu_memory_reserved_bytes = 4.0e9;
  r.epoch = double(step) / 1000.0;
  return r;
}

// Collectives every step, a dev evaluation every 20 steps (Spearman rising towards 0.85, or 0.1
// lower once `regressed`), a checkpoint every 50.
void feed_extras(TrainingMetrics& metrics, std::int64_t step, int world, bool regressed) {
  metrics.record_collective("all_reduce", 438e6, 0.004, world);
  metrics.record_collective("all_gather", 64.0 * 768 * 4 * world, 0.0002, world);
  if (step % 20 == 0) {
    metrics.record_eval({.step = step,
                         .spearman = 0.85 - 0.05 * std::exp(-double(step) / 500.0) - (regressed ? 0.1 : 0.0),
                         .alignment = 0.25,
                         .uniformity = -2.6});
  }
  if (step % 50 == 0) {
    metrics.record_checkpoint(1.5);
    metrics.record_checkpoint_blocked(0.02);
  }
}

int serve(const std::map<std::string, std::string>& flags) {
  const int ranks = flags.count("ranks") ? std::stoi(flags.at("ranks")) : 2;
  const std::string run_dir = flags.at("run-dir");
  const std::string run_id = flags.count("run-id") ? flags.at("run-id") : "driver";
  const int step_ms = flags.count("step-ms") ? std::stoi(flags.at("step-ms")) : 50;

  std::vector<std::unique_ptr<TrainingMetrics>> metrics;
  std::vector<std::string> endpoints;
  for (int r = 0; r < ranks; ++r) {
    MetricsOptions o;
    o.base_port = 0;
    o.rank = r;
    o.local_rank = r;
    o.world_size = ranks;
    o.host = "localhost";
    o.run_id = run_id;
    metrics.push_back(std::make_unique<TrainingMetrics>(o));
    endpoints.push_back(metrics.back()->endpoint());
  }
  write_file_sd(run_dir + "/" + kFileSdName, endpoints, metrics[0]->target_labels());
  std::cout << "ready";
  for (const auto& e : endpoints) std::cout << " " << e;
  std::cout << std::endl;

  std::atomic<bool> nan_loss{false}, regressed{false}, stalled{false}, quit{false};
  std::thread commands([&] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line == "nan") nan_loss = true;
      if (line == "regress") regressed = true;
      if (line == "stall") stalled = true;
      if (line == "quit") break;
    }
    quit = true;
  });
  for (std::int64_t step = 1; !quit; ++step) {
    if (!stalled) {
      for (int r = 0; r < ranks; ++r) {
        metrics[r]->record_step(synthetic_step(r, step, nan_loss));
        feed_extras(*metrics[r], step, ranks, regressed);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
  }
  commands.join();
  return 0;
}

int dump() {
  MetricsOptions o;
  o.enabled = false;
  o.host = "localhost";
  o.run_id = "dump";
  TrainingMetrics metrics(o);
  for (std::int64_t step = 1; step <= 100; ++step) {
    metrics.record_step(synthetic_step(0, step, false));
    feed_extras(metrics, step, 2, false);
  }
  std::cout << metrics.render();
  return 0;
}

int diagnostics(const std::string& path) {
  std::ifstream in(path);
  std::size_t k = 0;
  in >> k;
  std::vector<double> s(k);
  for (auto& v : s) in >> v;
  if (!in) throw simcsepp::Error("truncated diagnostics input", path, "see metrics_driver.cpp header");
  std::cout.precision(17);
  std::cout << "{\"effective_rank\": " << effective_rank(s) << "}" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "serve") return serve(parse_flags(argc, argv, 2));
    if (mode == "dump") return dump();
    if (mode == "diagnostics" && argc == 3) return diagnostics(argv[2]);
    std::cerr << "usage: monitoring_metrics_driver serve|dump|diagnostics FILE (see source header)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "monitoring_metrics_driver: " << e.what() << std::endl;
    return 1;
  }
}
