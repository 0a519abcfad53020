// autocast_scope.cpp - see autocast_scope.h.
#include "model/autocast_scope.h"

#include <ATen/autocast_mode.h>

#include <atomic>

namespace simcsepp::model {

namespace {
std::atomic<int64_t> g_regions_opened{0};
}

AutocastScope::AutocastScope(c10::DeviceType device, bool enable) : device_(device) {
  if (!enable || at::autocast::is_autocast_enabled(device_)) return;
  active_ = true;
  previous_dtype_ = at::autocast::get_autocast_dtype(device_);
  at::autocast::set_autocast_enabled(device_, true);
  at::autocast::set_autocast_dtype(device_, at::kBFloat16);
  at::autocast::increment_nesting();
  g_regions_opened.fetch_add(1, std::memory_order_relaxed);
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The nesting count is shared by all device types: the cache goes with the outermost region.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_, false);
  at::autocast::set_autocast_dtype(device_, previous_dtype_);
}

int64_t AutocastScope::regions_opened() { return g_regions_opened.load(std::memory_order_relaxed); }

}  // namespace simcsepp::model
