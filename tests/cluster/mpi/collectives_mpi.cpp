// collectives_mpi.cpp - every MPI collective against the same computation done locally from
// all ranks' (rank-deterministic) inputs, for each supported dtype.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/cluster/mpi/mpi_test_env.h"

namespace simcsepp::cluster::testing {
namespace {

std::vector<torch::Tensor> all_ranks(int tag, at::IntArrayRef shape, torch::ScalarType dtype) {
  std::vector<torch::Tensor> v;
  for (int r = 0; r < comm().world_size(); ++r) v.push_back(rank_data(tag, r, shape, dtype));
  return v;
}

class AllReduce : public ::testing::TestWithParam<torch::ScalarType> {};

TEST_P(AllReduce, SumAvgMaxMatchLocalReference) {
  const auto dtype = GetParam();
  const int w = comm().world_size(), me = comm().rank();
  auto inputs = all_ranks(11, {7, 5}, dtype);
  auto ref_sum = torch::zeros({7, 5}, torch::kDouble);
  auto ref_max = inputs[0].to(torch::kDouble);
  for (auto& x : inputs) {
    ref_sum += x.to(torch::kDouble);
    ref_max = torch::maximum(ref_max, x.to(torch::kDouble));
  }
  // 16-bit floats are reduced in float32 and rounded once.
  const double tol = (dtype == torch::kBFloat16) ? 2e-2 : (dtype == torch::kHalf ? 3e-3 : 1e-6);
  auto sum = inputs[me].clone();
  comm().all_reduce(sum, ReduceOp::kSum);
  EXPECT_EQ(sum.scalar_type(), dtype);
  EXPECT_TRUE(torch::allclose(sum.to(torch::kDouble), ref_sum, tol, tol))
      << (sum.to(torch::kDouble) - ref_sum).abs().max();
  auto mx = inputs[me].clone();
  comm().all_reduce(mx, ReduceOp::kMax);
  EXPECT_TRUE(torch::equal(mx.to(torch::kDouble), ref_max));
  if (at::isFloatingType(dtype)) {
    auto avg = inputs[me].clone();
    comm().all_reduce(avg, ReduceOp::kAvg);
    EXPECT_TRUE(torch::allclose(avg.to(torch::kDouble), ref_sum / w, tol, tol));
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, AllReduce,
                         ::testing::Values(torch::kFloat, torch::kDouble, torch::kLong, torch::kInt, torch::kHalf,
                                           torch::kBFloat16));

class DataMovement : public ::testing::TestWithParam<torch::ScalarType> {};

TEST_P(DataMovement, AllGatherBroadcastAreBitExact) {
  const auto dtype = GetParam();
  const int w = comm().world_size(), me = comm().rank();
  auto inputs = all_ranks(12, {3, 4}, dtype);
  auto gathered = comm().all_gather(inputs[me]);
  EXPECT_EQ(gathered.sizes(), (std::vector<int64_t>{3 * w, 4}));
  EXPECT_TRUE(torch::equal(gathered, torch::cat(inputs, 0)));
  for (int root = 0; root < w; ++root) {
    auto b = inputs[me].clone();
    comm().broadcast(b, root);
    EXPECT_TRUE(torch::equal(b, inputs[root])) << "root " << root;
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, DataMovement,
                         ::testing::Values(torch::kFloat, torch::kDouble, torch::kLong, torch::kHalf,
                                           torch::kBFloat16));

TEST(ReduceScatter, RankGetsSumOfItsSlice) {
  const int w = comm().world_size(), me = comm().rank();
  for (auto dtype : {torch::kFloat, torch::kDouble, torch::kBFloat16}) {
    auto inputs = all_ranks(13, {2 * w, 6}, dtype);
    auto ref = torch::zeros({2 * w, 6}, torch::kDouble);
    for (auto& x : inputs) ref += x.to(torch::kDouble);
    auto out = comm().reduce_scatter(inputs[me]);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 6}));
    EXPECT_EQ(out.scalar_type(), dtype);
    const double tol = dtype == torch::kBFloat16 ? 2e-2 : 1e-6;
    EXPECT_TRUE(torch::allclose(out.to(torch::kDouble), ref.narrow(0, 2 * me, 2), tol, tol));
  }
}

TEST(Collectives, ScalarAllGatherAndBarrier) {
  auto x = torch::full({}, static_cast<double>(comm().rank()), torch::kDouble);
  auto g = comm().all_gather(x);
  EXPECT_TRUE(torch::equal(g, torch::arange(comm().world_size(), torch::kDouble)));
  comm().barrier();
  EXPECT_EQ(comm().backend(), "mpi");
}

TEST(Collectives, AsyncAllReduceCompletesOnWait) {
  auto x = torch::full({4}, 1.0f + comm().rank());
  auto work = comm().all_reduce_async(x, ReduceOp::kSum);
  work->wait();
  const int w = comm().world_size();
  EXPECT_TRUE(torch::allclose(x, torch::full({4}, w * (w + 1) / 2.0f)));
}

TEST(Collectives, ListenersHearEveryCollectiveWithNcclTestsSizes) {
  std::vector<CollectiveTiming> heard;
  const int id = comm().add_collective_listener([&](const CollectiveTiming& t) { heard.push_back(t); });
  const int w = comm().world_size();
  auto x = torch::ones({1000}, torch::kFloat);  // 4000 bytes
  comm().all_reduce(x, ReduceOp::kSum);
  comm().all_reduce_async(x, ReduceOp::kSum)->wait();
  comm().all_gather(x);                                  // size: the gathered output
  comm().reduce_scatter(torch::ones({w * 10}, torch::kDouble));  // size: the input
  comm().broadcast(x, 0);
  comm().barrier();  // not a data collective: not reported
  comm().remove_collective_listener(id);
  comm().all_reduce(x, ReduceOp::kSum);  // after removal: not heard
  ASSERT_EQ(heard.size(), 5u);
  const std::vector<std::pair<std::string, double>> want = {
      {"all_reduce", 4000}, {"all_reduce", 4000}, {"all_gather", 4000.0 * w}, {"reduce_scatter", 80.0 * w},
      {"broadcast", 4000}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(heard[i].op, want[i].first) << i;
    EXPECT_EQ(heard[i].bytes, want[i].second) << i;
    EXPECT_TRUE(heard[i].host_blocking) << i;
    EXPECT_GE(heard[i].seconds, 0.0) << i;
    EXPECT_LT(heard[i].seconds, 60.0) << i;
  }
}

}  // namespace
}  // namespace simcsepp::cluster::testing
