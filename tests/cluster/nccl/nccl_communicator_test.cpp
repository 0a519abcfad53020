// nccl_communicator_test.cpp - the NCCL communicator on real GPUs: every collective against
// values computed on the CPU, stream ordering behind a long-running producer kernel, the
// asynchronous all-reduce, the autograd all-gather's reduce-scatter backward and the bucketed
// gradient reduction (forced at world size 1, so one GPU exercises them).
// Run directly (MPI singleton, world 1) or under mpirun with one GPU per rank. Without a CUDA
// device every test is reported SKIPPED - never passed - and ctest shows it as not run.
#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "cluster/all_gather_with_grad.h"
#include "base/log.h"
#include "cluster/gradient_reducer.h"
#include "cluster/mpi_runtime.h"
#include "cluster/nccl/nccl_communicator.h"

namespace simcsepp::cluster {
namespace {

std::unique_ptr<NcclCommunicator> g_comm;
int g_rank = 0, g_world = 1;
bool g_have_gpu = false;

#define REQUIRE_GPU() \
  if (!g_have_gpu) GTEST_SKIP() << "no CUDA device: the NCCL tests did not run"

NcclCommunicator& comm() { return *g_comm; }
torch::Device gpu() { return torch::Device(torch::kCUDA, c10::cuda::current_device()); }

// Rank r's data: the same on every rank's CPU, so each can compute the expected result.
torch::Tensor rank_data(int tag, int r, at::IntArrayRef shape, torch::ScalarType dtype) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(tag) * 1000003u + r);
  if (dtype == torch::kByte) return torch::randint(0, 256, shape, gen, torch::TensorOptions().dtype(dtype));
  if (!at::isFloatingType(dtype)) return torch::randint(-1000, 1000, shape, gen, torch::TensorOptions().dtype(dtype));
  // Small integers in floating dtypes: sums are exact in every format, bf16 included.
  return torch::randint(-8, 9, shape, gen, torch::TensorOptions().dtype(torch::kFloat)).to(dtype);
}

const torch::ScalarType kDtypes[] = {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16, torch::kInt,
                                     torch::kLong, torch::kByte};

TEST(NcclCommunicator, AllReduceSumMaxAvgEveryDtype) {
  REQUIRE_GPU();
  for (auto dtype : kDtypes) {
    SCOPED_TRACE(c10::toString(dtype));
    auto sum = torch::zeros({1000}, torch::kDouble), max = torch::full({1000}, -1e9, torch::kDouble);
    for (int r = 0; r < g_world; ++r) {
      auto d = rank_data(1, r, {1000}, dtype).to(torch::kDouble);
      sum += d;
      max = torch::maximum(max, d);
    }
    auto mine = rank_data(1, g_rank, {1000}, dtype);
    if (dtype != torch::kByte) {  // uint8 sums wrap; MAX is what the trainer uses uint8 for
      auto t = mine.to(gpu());
      comm().all_reduce(t, ReduceOp::kSum);
      EXPECT_TRUE(torch::equal(t.cpu().to(torch::kDouble), sum));
    }
    auto m = mine.to(gpu());
    comm().all_reduce(m, ReduceOp::kMax);
    EXPECT_TRUE(torch::equal(m.cpu().to(torch::kDouble), max));
    if (at::isFloatingType(dtype)) {
      auto a = mine.to(gpu());
      comm().all_reduce(a, ReduceOp::kAvg);
      // |sum / world| <= 8: one rounding of the 8-bit (bf16) or 11-bit (fp16) mantissa.
      const double tol = dtype == torch::kBFloat16 ? 8.0 / 256 : dtype == torch::kHalf ? 8.0 / 2048 : 1e-6;
      EXPECT_LE((a.cpu().to(torch::kDouble) - sum / g_world).abs().max().item<double>(), tol);
    }
  }
}

TEST(NcclCommunicator, BoolMaxIsLogicalOr) {
  REQUIRE_GPU();
  auto t = torch::zeros({4}, torch::kBool);
  t[g_rank % 4] = true;
  auto d = t.to(gpu());
  comm().all_reduce(d, ReduceOp::kMax);
  EXPECT_EQ(d.cpu().sum().item<int64_t>(), std::min(g_world, 4));
}

TEST(NcclCommunicator, AllGatherConcatenatesInRankOrder) {
  REQUIRE_GPU();
  for (auto dtype : {torch::kFloat, torch::kBFloat16, torch::kLong}) {
    std::vector<torch::Tensor> parts;
    for (int r = 0; r < g_world; ++r) parts.push_back(rank_data(2, r, {3, 5}, dtype));
    auto out = comm().all_gather(rank_data(2, g_rank, {3, 5}, dtype).to(gpu()));
    ASSERT_EQ(out.sizes(), (std::vector<int64_t>{3L * g_world, 5}));
    EXPECT_TRUE(torch::equal(out.cpu(), torch::cat(parts, 0)));
  }
}

TEST(NcclCommunicator, ReduceScatterSumsRankSlices) {
  REQUIRE_GPU();
  auto sum = torch::zeros({4L * g_world, 6}, torch::kDouble);
  for (int r = 0; r < g_world; ++r) sum += rank_data(3, r, {4L * g_world, 6}, torch::kFloat).to(torch::kDouble);
  auto out = comm().reduce_scatter(rank_data(3, g_rank, {4L * g_world, 6}, torch::kFloat).to(gpu()));
  EXPECT_TRUE(torch::equal(out.cpu().to(torch::kDouble), sum.narrow(0, 4L * g_rank, 4)));
}

TEST(NcclCommunicator, BroadcastFromEveryRoot) {
  REQUIRE_GPU();
  for (int root = 0; root < g_world; ++root) {
    auto t = rank_data(4, g_rank, {17}, torch::kDouble).to(gpu());
    comm().broadcast(t, root);
    EXPECT_TRUE(torch::equal(t.cpu(), rank_data(4, root, {17}, torch::kDouble)));
  }
  comm().barrier();
}

// The producer kernel spins ~50 ms on the current stream before writing the input: a
// collective that did not wait for the current stream would reduce the zeros.
TEST(NcclCommunicator, CollectivesWaitForALongRunningProducer) {
  REQUIRE_GPU();
  const int64_t spin_cycles = 100'000'000;  // ~50 ms at 2 GHz
  auto t = torch::zeros({1 << 20}, torch::dtype(torch::kFloat).device(gpu()));
  at::cuda::sleep(spin_cycles);
  t.fill_(static_cast<float>(g_rank + 1));
  comm().all_reduce(t, ReduceOp::kSum);
  auto doubled = t * 2;  // a consumer on the current stream, after the collective's event
  const float expected = static_cast<float>(g_world * (g_world + 1));
  EXPECT_EQ(doubled.min().item<float>(), expected);
  EXPECT_EQ(doubled.max().item<float>(), expected);

  auto a = torch::zeros({1 << 20}, torch::dtype(torch::kFloat).device(gpu()));
  at::cuda::sleep(spin_cycles);
  a.fill_(1.0f);
  auto work = comm().all_reduce_async(a, ReduceOp::kSum);
  work->wait();  // orders the current stream after the all-reduce, no host sync needed
  EXPECT_EQ((a * 1).min().item<float>(), static_cast<float>(g_world));

  auto g = torch::zeros({256, 64}, torch::dtype(torch::kFloat).device(gpu()));
  at::cuda::sleep(spin_cycles);
  g.fill_(static_cast<float>(g_rank));
  auto gathered = comm().all_gather(g).cpu();
  for (int r = 0; r < g_world; ++r) EXPECT_EQ(gathered.narrow(0, 256L * r, 256).max().item<float>(), r);
}

TEST(NcclCommunicator, ListenersHearDeviceTimedCollectives) {
  REQUIRE_GPU();
  std::atomic<int> heard{0}, device_timed{0};
  const int id = comm().add_collective_listener([&](const CollectiveTiming& t) {
    heard.fetch_add(1);
    if (!t.host_blocking && t.seconds > 0) device_timed.fetch_add(1);
  });
  auto t = torch::ones({1 << 16}, torch::dtype(torch::kFloat).device(gpu()));
  for (int i = 0; i < 5; ++i) comm().all_reduce(t, ReduceOp::kSum);
  torch::cuda::synchronize();
  for (int i = 0; i < 200 && heard.load() < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  comm().remove_collective_listener(id);
  EXPECT_EQ(heard.load(), 5);
  EXPECT_EQ(device_timed.load(), 5);
}

// all_gather_with_grad's backward is a reduce-scatter on the communication stream, queued by
// autograd's device thread: rank r's rows get the sum over ranks of their gradient.
TEST(NcclCommunicator, AllGatherBackwardIsAReduceScatterOfGradients) {
  REQUIRE_GPU();
  comm().force_collectives_for_testing(true);
  auto x = rank_data(5, g_rank, {8, 16}, torch::kFloat).to(gpu()).requires_grad_();
  auto w = rank_data(6, 0, {8L * g_world, 16}, torch::kFloat).to(gpu());  // the same on every rank
  at::cuda::sleep(50'000'000);
  auto gathered = all_gather_with_grad(comm(), x);
  (gathered * w).sum().backward();
  auto expected = w.narrow(0, 8L * g_rank, 8).cpu() * g_world;
  EXPECT_TRUE(torch::equal(x.grad().cpu(), expected));
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < g_world; ++r) parts.push_back(rank_data(5, r, {8, 16}, torch::kFloat));
  EXPECT_TRUE(torch::equal(gathered.detach().cpu(), torch::cat(parts, 0)));
  comm().force_collectives_for_testing(false);
}

// The bucketed, hook-driven reduction over NCCL (forced at world 1): buckets are all-reduced on
// the communication stream while backward runs, and the averaged gradients equal the CPU
// average of every rank's gradient.
TEST(NcclCommunicator, BucketedReductionAveragesGradients) {
  REQUIRE_GPU();
  comm().force_collectives_for_testing(true);
  auto make = [](int r, torch::Device dev) {
    torch::manual_seed(7);
    std::vector<torch::Tensor> p = {torch::randn({256, 128}).to(dev).requires_grad_(),
                                    torch::randn({128}).to(dev).requires_grad_(),
                                    torch::randn({64, 256}).to(dev).requires_grad_()};
    auto x = rank_data(8, r, {32, 128}, torch::kFloat).to(dev);
    return std::make_pair(p, x);
  };
  auto loss_of = [](const std::vector<torch::Tensor>& p, const torch::Tensor& x) {
    return torch::relu(x.add(p[1]).matmul(p[0].t())).matmul(p[2].t()).pow(2).mean();
  };
  auto [params, x] = make(g_rank, gpu());
  GradientReducerOptions options;
  options.bucket_bytes = 64 * 1024;  // several buckets
  GradientReducer reducer(comm(), params, options);
  ASSERT_GE(reducer.bucket_count(), 2u);
  for (int step = 0; step < 2; ++step) {  // the second step reuses the buffers and hooks
    reducer.zero_grad();
    loss_of(params, x).backward();
    EXPECT_GE(reducer.buckets_launched_early(), 1u);
    reducer.reduce();
  }
  std::vector<torch::Tensor> expected;
  for (int r = 0; r < g_world; ++r) {
    auto [cp, cx] = make(r, torch::Device(torch::kCPU));
    loss_of(cp, cx).backward();
    for (size_t i = 0; i < cp.size(); ++i) {
      if (r == 0) expected.push_back(cp[i].grad() / g_world);
      else expected[i] += cp[i].grad() / g_world;
    }
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const double diff = (params[i].grad().cpu() - expected[i]).abs().max().item<double>();
    const double scale = expected[i].abs().max().item<double>();
    EXPECT_LE(diff, 1e-4 * scale) << "param " << i;  // GPU fp32 matmul (TF32 off) vs CPU
  }
  comm().force_collectives_for_testing(false);
}

}  // namespace
}  // namespace simcsepp::cluster

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  simcsepp::cluster::ensure_mpi_initialized();
  auto topology = simcsepp::cluster::discover_mpi_topology();
  simcsepp::log::set_identity(topology.rank, topology.world_size, topology.host);
  simcsepp::cluster::g_rank = topology.rank;
  simcsepp::cluster::g_world = topology.world_size;
  simcsepp::cluster::g_have_gpu = torch::cuda::is_available() && torch::cuda::device_count() > 0;
  if (simcsepp::cluster::g_have_gpu) {
    const int device = topology.local_rank % static_cast<int>(torch::cuda::device_count());
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));
    at::globalContext().setAllowTF32CuBLAS(false);
    simcsepp::cluster::g_comm = std::make_unique<simcsepp::cluster::NcclCommunicator>(
        MPI_COMM_WORLD, device, simcsepp::cluster::collective_timeout_seconds());
  } else {
    std::fprintf(stderr, "no CUDA device: every NCCL test reports SKIPPED (not run)\n");
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  simcsepp::cluster::g_comm.reset();
  simcsepp::cluster::finalize_mpi();
  return any_failed;
}
