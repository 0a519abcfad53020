// phase_clock.h - where the time of one optimizer step went: forward, backward, communication,
// optimizer (data wait is measured by the caller around the reader).
//
// The step calls start() once and then lap(phase) at each phase boundary: the time since the
// previous mark belongs to `phase`. Laps of one phase add up (gradient accumulation alternates
// forward and backward).
//  - CPU: host timestamps (every op is synchronous). Collectives with MPI block the calling
//    thread inside the phase that issued them (the forward all-gather of negatives, the bucket
//    all-reduces launched from backward hooks), so the host-blocking collective time reported
//    by the communicator's listener during a lap is moved from that phase to communication.
//  - CUDA: timing events recorded on the current stream, resolved by seconds() (the trainer
//    calls it one step late, when the events have completed, so the GPU never waits for it).
//    NCCL runs on its own stream, overlapped with backward; communication is then the exposed
//    part only: from the end of backward until the averaged gradients are usable.
// Threading: the training thread; the listener's counter is atomic (MPI hooks may run on the
// autograd thread).
#pragma once

#include <torch/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "cluster/communicator.h"

namespace simcsepp::trainer {

struct PhaseSeconds {
  double forward = 0;
  double backward = 0;
  double communication = 0;
  double optimizer = 0;
};

// Host-blocking collective time of a communicator, summed by a listener (removed again by the
// destructor; `comm` must outlive this object).
class BlockingCollectiveTime {
 public:
  explicit BlockingCollectiveTime(cluster::Communicator& comm);
  ~BlockingCollectiveTime();
  BlockingCollectiveTime(const BlockingCollectiveTime&) = delete;
  BlockingCollectiveTime& operator=(const BlockingCollectiveTime&) = delete;
  double seconds() const { return nanoseconds_.load(std::memory_order_relaxed) * 1e-9; }

 private:
  cluster::Communicator& comm_;
  std::atomic<long long> nanoseconds_{0};
  int listener_ = -1;
};

class PhaseClock {
 public:
  enum Phase { kForward = 0, kBackward, kCommunication, kOptimizer };

  PhaseClock(torch::Device device, const BlockingCollectiveTime* blocking);
  ~PhaseClock();
  PhaseClock(const PhaseClock&) = delete;
  PhaseClock& operator=(const PhaseClock&) = delete;

  void start();
  void lap(Phase phase);
  // Sum per phase. CUDA: waits for the recorded events (call it once the step is done).
  PhaseSeconds seconds() const;

 private:
  struct DeviceMarks;  // CUDA events (defined in the .cpp, CUDA builds only)
  bool on_device_ = false;
  const BlockingCollectiveTime* blocking_;
  std::array<double, 4> host_{};  // CPU: seconds per phase
  std::chrono::steady_clock::time_point last_;
  double last_blocking_ = 0;
  std::unique_ptr<DeviceMarks> device_;
};

}  // namespace simcsepp::trainer
