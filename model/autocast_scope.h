// autocast_scope.h - one bf16 autocast region (fp32 weights, bf16 matmuls) for a device type.
//
// Autocast keeps a cache of the bf16 copies of fp32 leaf weights for as long as the outermost
// region lasts: inside one region every Linear weight is cast to bf16 once, however many encoder
// calls use it, and its gradient is cast back once in backward. So one region should cover all
// encoder calls of a forward pass (trainer/train_step.cpp: one per micro-batch;
// evaluation/sentence_embedder.cpp: one per embed() call), and nothing that changes the weights in
// place (the optimizer) may run inside one: the cache would hand out stale copies.
//
// A region opened while autocast is already on for that device type does nothing: the outer
// region owns the cache (and its dtype). The previous state is restored on exit, also when an
// exception leaves the scope. CUDA and CPU (CPU autocast: tests, `--precision bf16` on a CPU).
// Threading: autocast state is per thread; open and close a region on the same thread.
#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

#include <cstdint>

namespace simcsepp::model {

class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device, bool enable);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

  // True when this scope turned autocast on (false: disabled, or nested in an enabled region).
  bool active() const { return active_; }

  // Regions opened so far in this process (active scopes only). Test hook: the trainer's step
  // must open one per micro-batch, not one per encoder call.
  static int64_t regions_opened();

 private:
  c10::DeviceType device_;
  bool active_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::BFloat16;
};

}  // namespace simcsepp::model
