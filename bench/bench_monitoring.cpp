// bench_monitoring.cpp - what monitoring costs the training step, and what a scrape costs.
//
// Measures on one rank's TrainingMetrics (all families of a real run):
//   1. record_step() + two record_collective() calls per step: ns per step, alone;
//   2. the same while another thread scrapes GET /metrics over loopback HTTP back to back (far
//      more often than Prometheus would): ns per step and scrapes done - the step must not slow
//      down beyond the CPU the scraper itself takes;
//   3. render() of the registry: microseconds and bytes per scrape;
//   4. GET /metrics latency over loopback: p50 / p99.
// Step costs are given as wall time and as the stepping thread's CPU time: on a shared machine
// the wall time includes time the thread was preempted, its CPU time does not.
// Usage: bench_monitoring [steps=1000000]. Results: docs/monitoring.md.
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "monitoring/training_metrics.h"
#include "tests/monitoring/raw_http.h"

using namespace simcsepp::monitoring;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct StepCost {
  double wall_ns;
  double cpu_ns;
};

StepRecord sample_step(std::int64_t step) {
  StepRecord r;
  r.step = step;
  r.loss = 2.0;
  r.instance_loss = 1.8;
  r.dcl_loss = 0.2;
  r.learning_rate = 3e-5;
  r.grad_norm = 1.1;
  r.step_seconds = 0.01;
  r.data_wait_seconds = 0.0005;
  r.forward_seconds = 0.003;
  r.backward_seconds = 0.005;
  r.communication_seconds = 0.001;
  r.optimizer_seconds = 0.0005;
  r.sentences = 64;
  r.tokens = 1500;
  r.data_queue_depth = 4;
  r.model_flops_utilization = 0.5;
  r.effective_rank = 400;
  r.gpu_memory_used_bytes = 3e9;
  r.gpu_memory_reserved_bytes = 4e9;
  r.timestamp_seconds = 1.7e9;
  return r;
}

StepCost time_steps(TrainingMetrics& metrics, std::int64_t steps) {
  const auto t0 = Clock::now();
  const double cpu0 = thread_cpu_seconds();
  for (std::int64_t s = 0; s < steps; ++s) {
    metrics.record_step(sample_step(s));
    metrics.record_collective("all_reduce", 438e6, 0.004, 8);
    metrics.record_collective("all_gather", 1.5e6, 0.0002, 8);
  }
  return {seconds_since(t0) / double(steps) * 1e9, (thread_cpu_seconds() - cpu0) / double(steps) * 1e9};
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t steps = argc > 1 ? std::stoll(argv[1]) : 1000000;
  MetricsOptions options;
  options.base_port = 0;
  options.host = "bench";
  options.run_id = "bench";
  TrainingMetrics metrics(options);
  const int port = std::stoi(metrics.endpoint().substr(metrics.endpoint().rfind(':') + 1));

  time_steps(metrics, steps / 10);  // warm up
  const StepCost alone = time_steps(metrics, steps);

  std::atomic<bool> stop{false};
  std::atomic<int> scrapes{0};
  std::thread scraper([&] {
    while (!stop) {
      if (testing::get(port, "/metrics").status == 200) ++scrapes;
    }
  });
  const auto t_scraped = Clock::now();
  const StepCost scraped = time_steps(metrics, steps);
  const double scraped_seconds = seconds_since(t_scraped);
  stop = true;
  scraper.join();

  const int renders = 2000;
  std::size_t bytes = 0;
  const auto t_render = Clock::now();
  for (int i = 0; i < renders; ++i) bytes = metrics.render().size();
  const double render_us = seconds_since(t_render) / renders * 1e6;

  std::vector<double> latency_ms;
  for (int i = 0; i < 300; ++i) {
    const auto t0 = Clock::now();
    testing::get(port, "/metrics");
    latency_ms.push_back(seconds_since(t0) * 1e3);
  }
  std::sort(latency_ms.begin(), latency_ms.end());

  std::printf("hardware threads: %u\n", std::thread::hardware_concurrency());
  std::printf(
      "record_step + 2 record_collective, alone:            %8.1f ns/step wall, %8.1f ns/step CPU (%lld steps)\n",
      alone.wall_ns, alone.cpu_ns, static_cast<long long>(steps));
  std::printf(
      "record_step + 2 record_collective, scraped nonstop:  %8.1f ns/step wall, %8.1f ns/step CPU (%d scrapes in %.2f "
      "s)\n",
      scraped.wall_ns, scraped.cpu_ns, scrapes.load(), scraped_seconds);
  std::printf("render(): %.1f us per scrape, %zu bytes\n", render_us, bytes);
  std::printf("GET /metrics over loopback: p50 %.3f ms, p99 %.3f ms\n", latency_ms[latency_ms.size() / 2],
              latency_ms[latency_ms.size() * 99 / 100]);
  return 0;
}
