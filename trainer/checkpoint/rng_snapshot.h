// rng_snapshot.h - the state of the generators dropout draws from, captured and put back.
//
// Gradient caching (chunked_forward_backward.h) encodes every chunk twice: once without autograd,
// once with it. Restoring the snapshot taken before a chunk's first encoding makes the second
// draw exactly the same dropout masks: torch's default CPU generator always (CPU dropout and
// the keyed test mode's fallbacks draw there), and the default CUDA generator of the device
// when the model is on a GPU (a [seed, offset] pair, so capture and restore are host-side and
// cheap: no device synchronisation). Training thread only; the generator's mutex is held while
// reading or writing it, as torch's own get/set_rng_state do.
#pragma once

#include <torch/types.h>

namespace simcsepp::trainer {

struct RngSnapshot {
  torch::Tensor cpu;   // default CPU generator state
  torch::Tensor cuda;  // default CUDA generator state of the device; undefined on a CPU
};

RngSnapshot capture_rng(torch::Device device);
void restore_rng(const RngSnapshot& snapshot, torch::Device device);

}  // namespace simcsepp::trainer
