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

// The clock's own timestamps are taken inside lap(): between our marks just before and just
// after each call. So a lap's true length lies in [previous.after -> this.before, previous.before
// -> this.after], whatever the machine's speed or load; the bounds below use only that.
using Clock = std::chrono::steady_clock;
struct Marks {
  Clock::time_point before, after;
};
template <class F>
Marks around(F&& call) {
  Marks m{Clock::now(), {}};
  call();
  m.after = Clock::now();
  return m;
}
struct Bounds {
  double lo = 0, hi = 0;
  void add(const Marks& previous, const Marks& next) {
    lo += std::chrono::duration<double>(next.before - previous.after).count();
    hi += std::chrono::duration<double>(next.after - previous.before).count();
  }
  Bounds minus(double s) const { return {lo - s, hi - s}; }
  Bounds plus(double s) const { return {lo + s, hi + s}; }
};
// The clock sums the communicator's report in whole nanoseconds.
constexpr double kRounding = 1e-8;
::testing::AssertionResult Within(double value, const Bounds& b) {
  if (value >= b.lo - kRounding && value <= b.hi + kRounding) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << value << " s outside the measured [" << b.lo << ", " << b.hi << "] s";
}

TEST(PhaseClock, MovesBlockingCollectiveTimeToCommunication) {
  SlowCommunicator comm;
  BlockingCollectiveTime blocking(comm);
  double reported = 0;  // what the communicator says its collectives blocked for
  const int listener = comm.add_collective_listener([&](const cluster::CollectiveTiming& t) {
    if (t.host_blocking) reported += t.seconds;
  });
  PhaseClock clock(torch::kCPU, &blocking);
  auto x = torch::zeros({4});
  Bounds forward, backward, communication, optimizer;
  Marks m = around([&] { clock.start(); });
  busy(std::chrono::milliseconds(30));
  Marks next = around([&] { clock.lap(PhaseClock::kForward); });
  forward.add(m, next), m = next;
  comm.delay = std::chrono::milliseconds(60);  // a bucket all-reduce inside backward
  busy(std::chrono::milliseconds(20));
  comm.all_reduce(x, cluster::ReduceOp::kSum);
  next = around([&] { clock.lap(PhaseClock::kBackward); });
  backward.add(m, next), m = next;
  busy(std::chrono::milliseconds(30));  // second micro-batch
  next = around([&] { clock.lap(PhaseClock::kForward); });
  forward.add(m, next), m = next;
  comm.delay = std::chrono::milliseconds(0);
  next = around([&] { clock.lap(PhaseClock::kCommunication); });
  communication.add(m, next), m = next;
  busy(std::chrono::milliseconds(10));
  next = around([&] { clock.lap(PhaseClock::kOptimizer); });
  optimizer.add(m, next);
  comm.remove_collective_listener(listener);

  const PhaseSeconds s = clock.seconds();
  ASSERT_GE(reported, 0.060);  // the all-reduce slept 60 ms inside the backward lap
  EXPECT_TRUE(Within(s.forward, forward));
  // The backward lap minus the collective's time (without the move it would be the whole lap:
  // at least 60 ms above this range, which is only as wide as two lap() calls).
  EXPECT_TRUE(Within(s.backward, backward.minus(reported)));
  EXPECT_TRUE(Within(s.communication, communication.plus(reported)));
  EXPECT_TRUE(Within(s.optimizer, optimizer));
  // Sleeps last at least as long as asked: a lower bound only.
  EXPECT_GE(s.forward, 0.060);
  EXPECT_GE(s.backward, 0.020);
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
