// forced_collectives_test.cpp - the test-only switch that makes a world of one take the
// multi-rank paths (Communicator::runs_collectives): the reducer installs its hooks and launches
// buckets from backward, all_gather_with_grad goes through all_gather / reduce_scatter, and the
// results equal those of the unforced (identity) path. This is what lets the one-GPU device
// check exercise the NCCL bucket path (tests/cluster/nccl/); here a counting communicator of a
// world of one shows which collectives ran.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "cluster/all_gather_with_grad.h"
#include "cluster/gradient_reducer.h"

namespace simcsepp::cluster {
namespace {

// A world of one that counts its collectives (every collective of one rank is the identity).
class CountingCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "counting"; }
  void all_reduce(at::Tensor&, ReduceOp) override { ++calls["all_reduce"]; }
  at::Tensor all_gather(const at::Tensor& t) override {
    ++calls["all_gather"];
    return t.clone();
  }
  at::Tensor reduce_scatter(const at::Tensor& t) override {
    ++calls["reduce_scatter"];
    return t.clone();
  }
  void broadcast(at::Tensor&, int) override { ++calls["broadcast"]; }
  void barrier() override { ++calls["barrier"]; }
  [[noreturn]] void abort(const std::string& reason) override { throw std::runtime_error(reason); }
  std::map<std::string, int> calls;
};

// A small two-layer net whose gradients fill several buckets.
struct Net {
  torch::Tensor w1 = torch::randn({16, 8}, torch::dtype(torch::kDouble)).requires_grad_();
  torch::Tensor w2 = torch::randn({4, 16}, torch::dtype(torch::kDouble)).requires_grad_();
  torch::Tensor b2 = torch::randn({4}, torch::dtype(torch::kDouble)).requires_grad_();
  std::vector<torch::Tensor> params() const { return {w1, w2, b2}; }
  torch::Tensor loss(const torch::Tensor& x) const {
    return torch::tanh(x.matmul(w1.t())).matmul(w2.t()).add(b2).pow(2).sum();
  }
};

std::vector<torch::Tensor> reduced_grads(bool forced, int* all_reduces, size_t* early) {
  torch::manual_seed(3);
  Net net;
  const auto x = torch::randn({5, 8}, torch::dtype(torch::kDouble));
  CountingCommunicator comm;
  comm.force_collectives_for_testing(forced);
  GradientReducerOptions options;
  options.bucket_bytes = 64 * 8;  // backward order b2, w2 | w1: two buckets
  GradientReducer reducer(comm, net.params(), options);
  reducer.zero_grad();
  net.loss(x).backward();
  *early = reducer.buckets_launched_early();
  reducer.reduce();
  *all_reduces = comm.calls["all_reduce"];
  std::vector<torch::Tensor> grads;
  for (const auto& p : net.params()) grads.push_back(p.grad().clone());
  return grads;
}

TEST(ForcedCollectives, ReducerLaunchesBucketsFromBackwardAtWorldOne) {
  int plain_calls = 0, forced_calls = 0;
  size_t plain_early = 0, forced_early = 0;
  const auto plain = reduced_grads(false, &plain_calls, &plain_early);
  const auto forced = reduced_grads(true, &forced_calls, &forced_early);
  EXPECT_EQ(plain_calls, 0);  // world of one, not forced: no collective at all
  EXPECT_EQ(plain_early, 0u);
  EXPECT_EQ(forced_calls, 2);   // one all-reduce per bucket
  EXPECT_EQ(forced_early, 2u);  // both launched by the hooks during backward, none by reduce()
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_TRUE(torch::equal(plain[i], forced[i])) << "param " << i;
}

TEST(ForcedCollectives, AllGatherWithGradGoesThroughTheCommunicator) {
  const auto x = torch::randn({3, 4}, torch::dtype(torch::kDouble)).requires_grad_();
  const auto w = torch::randn({3, 4}, torch::dtype(torch::kDouble));
  CountingCommunicator plain_comm, forced_comm;
  forced_comm.force_collectives_for_testing(true);

  auto plain = all_gather_with_grad(plain_comm, x);
  (plain * w).sum().backward();
  const auto plain_grad = x.grad().clone();
  x.mutable_grad() = torch::Tensor();
  auto forced = all_gather_with_grad(forced_comm, x);
  (forced * w).sum().backward();

  EXPECT_TRUE(plain_comm.calls.empty());
  EXPECT_EQ(forced_comm.calls["all_gather"], 1);
  EXPECT_EQ(forced_comm.calls["reduce_scatter"], 1);  // the backward
  EXPECT_TRUE(torch::equal(plain, forced));
  EXPECT_TRUE(torch::equal(plain_grad, x.grad()));
  EXPECT_TRUE(torch::equal(x.grad(), w));
}

TEST(ForcedCollectives, OffByDefaultAndOnlyWhenAsked) {
  CountingCommunicator comm;
  EXPECT_FALSE(comm.runs_collectives());
  comm.force_collectives_for_testing(true);
  EXPECT_TRUE(comm.runs_collectives());
  comm.force_collectives_for_testing(false);
  EXPECT_FALSE(comm.runs_collectives());
}

}  // namespace
}  // namespace simcsepp::cluster
