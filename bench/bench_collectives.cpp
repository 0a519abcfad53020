// bench_collectives.cpp - bus bandwidth of the Communicator's collectives, nccl-tests style.
//
// Run under the launcher, e.g. mpirun -np 2 build/bin/bench_collectives [--backend auto]
// [--device auto] [--iters 20] [--max-mib 64]. For sizes 4 KiB .. max, float32: time per call
// (median of iters after warm-up, barrier-aligned), algbw = bytes / time, and busbw with the
// nccl-tests factors - all_reduce 2(n-1)/n, all_gather and reduce_scatter (n-1)/n - so numbers
// compare across world sizes and with nccl-tests. Results are also checked (sum of ranks).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cluster/bootstrap.h"

using simcsepp::cluster::Communicator;
using simcsepp::cluster::ReduceOp;

namespace {

void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

template <class F>
double median_seconds(Communicator& comm, const torch::Device& device, int iters, F&& op) {
  op();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < iters; ++i) {
    comm.barrier();
    auto start = std::chrono::steady_clock::now();
    op();
    sync(device);
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string backend = "auto", device_name = "auto";
  int iters = 20;
  int64_t max_mib = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--backend"))
      backend = argv[i + 1];
    else if (!std::strcmp(argv[i], "--device"))
      device_name = argv[i + 1];
    else if (!std::strcmp(argv[i], "--iters"))
      iters = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--max-mib"))
      max_mib = std::stoll(argv[i + 1]);
  }
  auto ctx = simcsepp::cluster::bootstrap_cluster(backend, device_name);
  auto& comm = *ctx.comm;
  const int w = comm.world_size();
  const double ring = w > 1 ? static_cast<double>(w - 1) / w : 1.0;
  if (comm.rank() == 0) {
    std::printf("# backend %s, %d ranks, device %s, float32, median of %d\n", comm.backend().c_str(), w,
                ctx.device.str().c_str(), iters);
    std::printf("%-14s %12s %10s %10s %10s\n", "collective", "bytes", "time_us", "algbw_GB/s", "busbw_GB/s");
  }
  bool ok = true;
  for (int64_t bytes = 4096; bytes <= max_mib * 1024 * 1024; bytes *= 4) {
    const int64_t n = bytes / 4 / w * w;
    auto opts = torch::TensorOptions().dtype(torch::kFloat).device(ctx.device);
    auto x = torch::full({n}, 1.0f + comm.rank(), opts);
    double t_ar = median_seconds(comm, ctx.device, iters, [&] { comm.all_reduce(x, ReduceOp::kSum); });
    auto check = torch::full({n}, 1.0f + comm.rank(), opts);
    comm.all_reduce(check, ReduceOp::kSum);
    ok &= check.allclose(torch::full({n}, w * (w + 1) / 2.0f, opts));
    auto part = torch::ones({n / w}, opts);
    double t_ag = median_seconds(comm, ctx.device, iters, [&] { comm.all_gather(part); });
    double t_rs = median_seconds(comm, ctx.device, iters, [&] { comm.reduce_scatter(x); });
    if (comm.rank() == 0) {
      const double b = static_cast<double>(n) * 4;
      std::printf("%-14s %12.0f %10.1f %10.3f %10.3f\n", "all_reduce", b, t_ar * 1e6, b / t_ar / 1e9,
                  b / t_ar / 1e9 * 2 * ring);
      std::printf("%-14s %12.0f %10.1f %10.3f %10.3f\n", "all_gather", b, t_ag * 1e6, b / t_ag / 1e9,
                  b / t_ag / 1e9 * ring);
      std::printf("%-14s %12.0f %10.1f %10.3f %10.3f\n", "reduce_scatter", b, t_rs * 1e6, b / t_rs / 1e9,
                  b / t_rs / 1e9 * ring);
    }
  }
  if (!ok) std::fprintf(stderr, "rank %d: all_reduce result wrong\n", comm.rank());
  ctx.comm.reset();
  simcsepp::cluster::shutdown_cluster();
  return ok ? 0 : 1;
}
