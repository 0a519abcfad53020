// captured_update_test.cpp - what the captured step (--cuda-graphs, trainer/cuda_graph_update.h)
// relies on, on the CPU: the update body keeps its state in persistent device tensors (the step
// scalars, the stop flag) and StepOutput snapshots them, so an output stays its own update's
// after later updates; a stop request reaches the next update and stays; cuda_graph_blocker()
// names why a configuration stays eager, and --cuda-graphs on a CPU is exactly the eager step.
// The GPU half (capture, replay, masks, equality over 200 steps) is
// tests/trainer/cuda/captured_step_cuda_test.cpp.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>

#include "cluster/single_process_communicator.h"
#include "model/sentence_encoder.h"
#include "simcsepp/build_config.h"
#include "tests/trainer/tiny_step_fixture.h"
#include "trainer/cuda_graph_update.h"
#include "trainer/train_step.h"

namespace simcsepp::trainer {
namespace {

// Only its name matters to cuda_graph_blocker: a communicator that says it is `name`.
class NamedCommunicator final : public cluster::Communicator {
 public:
  explicit NamedCommunicator(std::string name) : name_(std::move(name)) {}
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  std::string backend() const override { return name_; }
  void all_reduce(at::Tensor&, cluster::ReduceOp) override {}
  at::Tensor all_gather(const at::Tensor& t) override { return t; }
  at::Tensor reduce_scatter(const at::Tensor& t) override { return t; }
  void broadcast(at::Tensor&, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& reason) override { throw std::runtime_error(reason); }

 private:
  std::string name_;
};

TrainStepConfig simcsepp_config() {
  TrainStepConfig sc;
  sc.objective = model::parse_objective("simcse++");
  sc.total_steps = 10;
  sc.adamw.lr = 1e-3;
  return sc;
}

TEST(StepScalars, AnOutputStaysItsOwnUpdatesAfterLaterUpdates) {
  torch::manual_seed(5);
  model::SentenceEncoder enc(testing::tiny_step_config());
  cluster::SingleProcessCommunicator comm;
  TrainStep step(enc, simcsepp_config(), comm);
  const auto first = step.step({{testing::random_token_batch(4, 8, 1)}});
  const auto v0 = first.read();
  const double loss0 = first.loss.item<double>(), norm0 = first.grad_norm.item<double>();
  const auto second = step.step({{testing::random_token_batch(4, 8, 2)}});
  const auto v1 = second.read();
  ASSERT_NE(v1.loss, v0.loss);  // the second update wrote other values into the step scalars
  EXPECT_EQ(first.loss.item<double>(), loss0);
  EXPECT_EQ(first.grad_norm.item<double>(), norm0);
  EXPECT_EQ(first.read().loss, v0.loss);
  EXPECT_EQ(first.read().grad_norm, v0.grad_norm);
  EXPECT_EQ(second.loss.item<double>(), v1.loss);
}

TEST(StopFlag, ARequestReachesTheNextUpdateAndStays) {
  torch::manual_seed(6);
  model::SentenceEncoder enc(testing::tiny_step_config());
  cluster::SingleProcessCommunicator comm;
  TrainStep step(enc, simcsepp_config(), comm);
  const std::vector<std::vector<data::TokenBatch>> batch = {{testing::random_token_batch(4, 8, 3)}};
  EXPECT_FALSE(step.step(batch).read().stop);
  EXPECT_FALSE(step.step(batch).read().stop);
  step.request_stop();
  EXPECT_TRUE(step.step(batch).read().stop);
  EXPECT_TRUE(step.step(batch).read().stop);
  step.request_stop();  // again: still one flag
  EXPECT_TRUE(step.step(batch).read().stop);
}

TEST(CudaGraphBlocker, NamesWhyEachConfigurationStaysEager) {
  cluster::SingleProcessCommunicator single;
  const torch::Device cuda(torch::kCUDA, 0);  // a device name: nothing here touches a GPU
  const auto sc = simcsepp_config();
  const auto cpu_reason = cuda_graph_blocker(sc, single, torch::kCPU);
  EXPECT_NE(cpu_reason.find(SIMCSEPP_HAVE_CUDA ? "runs on cpu" : "no CUDA"), std::string::npos) << cpu_reason;
  if (!SIMCSEPP_HAVE_CUDA) {
    EXPECT_NE(cuda_graph_blocker(sc, single, cuda).find("no CUDA"), std::string::npos);
    return;
  }
  EXPECT_EQ(cuda_graph_blocker(sc, single, cuda), "");  // one rank, simcse++: capturable
  auto diffcse = sc;
  diffcse.objective = model::parse_objective("diffcse++");
  EXPECT_NE(cuda_graph_blocker(diffcse, single, cuda).find("DiffCSE"), std::string::npos);
  auto chunked = sc;
  chunked.chunk_size = 2;
  EXPECT_NE(cuda_graph_blocker(chunked, single, cuda).find("--chunk-size"), std::string::npos);
  auto no_warmup = sc;
  no_warmup.cuda_graph_warmup = 0;
  EXPECT_NE(cuda_graph_blocker(no_warmup, single, cuda).find("warm-up"), std::string::npos);
  // Host collectives cannot be captured; NCCL's (multi-rank, or forced at world 1) are.
  EXPECT_NE(cuda_graph_blocker(sc, NamedCommunicator("mpi"), cuda).find("MPI"), std::string::npos);
  EXPECT_EQ(cuda_graph_blocker(sc, NamedCommunicator("nccl"), cuda), "");
  cluster::SingleProcessCommunicator forced;
  forced.force_collectives_for_testing(true);
  EXPECT_EQ(cuda_graph_blocker(sc, forced, cuda), "");
  // Every supervised objective is capturable too (no host loop, fixed columns).
  auto sup = sc;
  sup.objective = model::parse_objective("supervised+off-dropout+dcl");
  EXPECT_EQ(cuda_graph_blocker(sup, single, cuda), "");
}

// --cuda-graphs on a CPU: the step says why it stays eager and is the eager step bit for bit.
TEST(CudaGraphBlocker, CudaGraphsOnACpuAreTheEagerStep) {
  cluster::SingleProcessCommunicator comm;
  std::vector<std::vector<double>> losses(2);
  std::vector<std::vector<torch::Tensor>> params(2);
  for (int graphs = 0; graphs < 2; ++graphs) {
    torch::manual_seed(8);
    model::SentenceEncoder enc(testing::tiny_step_config());
    auto sc = simcsepp_config();
    sc.cuda_graphs = graphs == 1;
    sc.grad_clip = 1.0;
    TrainStep step(enc, sc, comm);
    EXPECT_EQ(step.captured_update(), nullptr);
    EXPECT_EQ(step.cuda_graph_fallback().empty(), graphs == 0) << step.cuda_graph_fallback();
    torch::manual_seed(9);
    for (int k = 0; k < 4; ++k) losses[graphs].push_back(step.step({{testing::random_token_batch(4, 8, 10 + k)}}).read().loss);
    for (const auto& p : enc->parameters()) params[graphs].push_back(p.detach().clone());
  }
  EXPECT_EQ(losses[0], losses[1]);
  for (size_t i = 0; i < params[0].size(); ++i) EXPECT_TRUE(torch::equal(params[0][i], params[1][i])) << i;
}

}  // namespace
}  // namespace simcsepp::trainer
