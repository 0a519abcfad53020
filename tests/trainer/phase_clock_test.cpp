// PhaseClock on CPU: laps add up per phase, and host-blocking collective time reported by the
// communicator inside a lap is moved from that phase to communication.
#include "trainer/phase_clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <cstdlib>

#include "cluster/communicator.h"

namespace simcsepp::trainer {
namespace {

// A world of one whose all_reduce blocks for a given time and reports it, as MPI does.
class SlowCommunicator final : public cluster::Communicator {
 public:
  std::chrono::milliseconds delay{0};
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "slow"; }
  void all_reduce(at::Tensor& tensor, cluster::ReduceOp) override {
    cluster::HostCollectiveTimer timer(*this, "all_reduce", tensor.numel() * tensor.element_size());
    std::this_thread::sleep_for(delay);
  }
  at::Tensor all_gather(const at::Tensor& tensor) override { return tensor; }
  at::Tensor reduce_scatter(const at::Tensor& input) override { return input; }
  void broadcast(at::Tensor&, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string&) override { std::abort(); }
  bool listening() const { return has_collective_listeners(); }
};

void busy(std::chrono::milliseconds ms) { std::this_thread::sleep_for(ms); }

TEST(PhaseClock, MovesBlockingCollectiveTimeToCommunication) {
  SlowCommunicator comm;
  BlockingCollectiveTime blocking(comm);
  PhaseClock clock(torch::kCPU, &blocking);
  auto x = torch::zeros({4});
  clock.start();
  busy(std::chrono::milliseconds(30));
  clock.lap(PhaseClock::kForward);
  comm.delay = std::chrono::milliseconds(60);  // a bucket all-reduce inside backward
  busy(std::chrono::milliseconds(20));
  comm.all_reduce(x, cluster::ReduceOp::kSum);
  clock.lap(PhaseClock::kBackward);
  busy(std::chrono::milliseconds(30));  // second micro-batch
  clock.lap(PhaseClock::kForward);
  comm.delay = std::chrono::milliseconds(0);
  clock.lap(PhaseClock::kCommunication);
  busy(std::chrono::milliseconds(10));
  clock.lap(PhaseClock::kOptimizer);
  const PhaseSeconds s = clock.seconds();
  // Sleeps last at least as long as asked; allow generous slack above for a loaded machine.
  EXPECT_GE(s.forward, 0.060);
  EXPECT_LT(s.forward, 0.060 + 0.050);
  EXPECT_GE(s.backward, 0.020);
  EXPECT_LT(s.backward, 0.020 + 0.050);  // without the move it would be >= 0.080
  EXPECT_GE(s.communication, 0.060);
  EXPECT_LT(s.communication, 0.060 + 0.050);
  EXPECT_GE(s.optimizer, 0.010);
}

TEST(PhaseClock, ListenerIsRemovedWithTheCounter) {
  SlowCommunicator comm;
  {
    BlockingCollectiveTime blocking(comm);
    EXPECT_TRUE(comm.listening());
    comm.delay = std::chrono::milliseconds(5);
    auto x = torch::zeros({4});
    comm.all_reduce(x, cluster::ReduceOp::kSum);
    EXPECT_GE(blocking.seconds(), 0.005);
  }
  EXPECT_FALSE(comm.listening());  // a later collective must not touch the destroyed counter
}

}  // namespace
}  // namespace simcsepp::trainer
