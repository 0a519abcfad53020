// phase_clock.cpp - see phase_clock.h.
#include "trainer/phase_clock.h"

#include "base/error.h"
#include "simcsepp/build_config.h"
#if SIMCSEPP_HAVE_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace simcsepp::trainer {

BlockingCollectiveTime::BlockingCollectiveTime(cluster::Communicator& comm) : comm_(comm) {
  listener_ = comm_.add_collective_listener([this](const cluster::CollectiveTiming& t) {
    if (t.host_blocking) nanoseconds_.fetch_add(static_cast<long long>(t.seconds * 1e9), std::memory_order_relaxed);
  });
}

BlockingCollectiveTime::~BlockingCollectiveTime() { comm_.remove_collective_listener(listener_); }

#if SIMCSEPP_HAVE_CUDA
struct PhaseClock::DeviceMarks {
  at::cuda::CUDAEvent start{cudaEventDefault};
  std::vector<std::pair<Phase, std::unique_ptr<at::cuda::CUDAEvent>>> laps;
};
#else
struct PhaseClock::DeviceMarks {};
#endif

PhaseClock::PhaseClock(torch::Device device, const BlockingCollectiveTime* blocking)
    : on_device_(device.is_cuda()), blocking_(blocking) {
#if SIMCSEPP_HAVE_CUDA
  if (on_device_) device_ = std::make_unique<DeviceMarks>();
#else
  SIMCSEPP_CHECK(!on_device_, "PhaseClock on a CUDA device in a build without CUDA");
#endif
}

PhaseClock::~PhaseClock() = default;

void PhaseClock::start() {
#if SIMCSEPP_HAVE_CUDA
  if (on_device_) {
    device_->start.record(c10::cuda::getCurrentCUDAStream());
    return;
  }
#endif
  last_ = std::chrono::steady_clock::now();
  last_blocking_ = blocking_ ? blocking_->seconds() : 0.0;
}

void PhaseClock::lap(Phase phase) {
#if SIMCSEPP_HAVE_CUDA
  if (on_device_) {
    auto event = std::make_unique<at::cuda::CUDAEvent>(cudaEventDefault);
    event->record(c10::cuda::getCurrentCUDAStream());
    device_->laps.emplace_back(phase, std::move(event));
    return;
  }
#endif
  const auto now = std::chrono::steady_clock::now();
  const double total = std::chrono::duration<double>(now - last_).count();
  const double blocking_now = blocking_ ? blocking_->seconds() : 0.0;
  // Host-blocking collective time inside the lap is communication, whatever phase issued it.
  const double blocked = std::min(total, std::max(0.0, blocking_now - last_blocking_));
  host_[phase] += total - blocked;
  host_[kCommunication] += blocked;
  last_ = now;
  last_blocking_ = blocking_now;
}

PhaseSeconds PhaseClock::seconds() const {
  std::array<double, 4> s = host_;
#if SIMCSEPP_HAVE_CUDA
  if (on_device_) {
    s = {};
    const at::cuda::CUDAEvent* previous = &device_->start;
    for (const auto& [phase, event] : device_->laps) {
      event->synchronize();
      s[phase] += previous->elapsed_time(*event) / 1e3;  // milliseconds
      previous = event.get();
    }
  }
#endif
  return {s[kForward], s[kBackward], s[kCommunication], s[kOptimizer]};
}

}  // namespace simcsepp::trainer
