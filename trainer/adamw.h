// adamw.h - AdamW with decoupled weight decay (Loshchilov & Hutter), the paper's optimizer.
//
// One kernel for every parameter: at::_fused_adamw_ (CUDA and CPU implementations in libtorch),
// the same update torch.optim.AdamW(fused=True) performs. `skip` is a device flag (0/1 float):
// when it is 1 the kernel leaves parameters and moments untouched and the step counter is
// rolled back, so a non-finite gradient skips the update without a host synchronisation.
// State (moments, step) is plain tensors so checkpoints save and restore it exactly.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

namespace simcsepp::trainer {

struct AdamWConfig {
  double lr = 3e-5;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

class AdamW {
 public:
  AdamW(std::vector<torch::Tensor> params, AdamWConfig config);

  // One update with learning rate `lr`, from the params' .grad(). `skip`: float scalar tensor on
  // the params' device, 1 = leave everything unchanged. No host synchronisation.
  void step(double lr, const torch::Tensor& skip);
  // The same update with the learning rate read from `lr`, a scalar tensor on the params' device
  // (of lr_dtype()), so a step captured in a CUDA graph reads this update's rate at replay
  // instead of a value frozen at capture.
  void step(const torch::Tensor& lr, const torch::Tensor& skip);
  // float32 on CUDA (what the CUDA kernel's tensor-rate path reads), float64 on CPU (the CPU
  // kernel takes the rate as a double: float64 keeps it exactly).
  static torch::ScalarType lr_dtype(torch::Device device);

  // Checkpoint state: exp_avg_i, exp_avg_sq_i for every param, then the step counter.
  std::vector<torch::Tensor> state() const;
  void load_state(const std::vector<torch::Tensor>& state);

  const std::vector<torch::Tensor>& params() const { return params_; }

 private:
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> exp_avg_;
  std::vector<torch::Tensor> exp_avg_sq_;
  torch::Tensor step_;  // float32 scalar on the params' device (what the fused kernel reads)
  AdamWConfig config_;
};

}  // namespace simcsepp::trainer
