// adamw.cpp - see adamw.h.
#include "trainer/adamw.h"

#include <torch/torch.h>

#include "base/error.h"

namespace simcsepp::trainer {

AdamW::AdamW(std::vector<torch::Tensor> params, AdamWConfig config) : params_(std::move(params)), config_(config) {
  SIMCSEPP_CHECK(!params_.empty(), "AdamW needs parameters");
  for (const auto& p : params_) {
    exp_avg_.push_back(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
    exp_avg_sq_.push_back(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
  }
  step_ = torch::zeros({}, params_.front().options().dtype(torch::kFloat));
}

namespace {

// One fused update; `lr` is a double or a device tensor (both overloads of _fused_adamw_).
template <class Lr>
void fused_update(std::vector<torch::Tensor>& params, std::vector<torch::Tensor>& exp_avg,
                  std::vector<torch::Tensor>& exp_avg_sq, torch::Tensor& step, const Lr& lr, const AdamWConfig& c,
                  const torch::Tensor& skip) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  grads.reserve(params.size());
  for (const auto& p : params) grads.push_back(p.grad());
  // The kernel reads the step of each parameter; they all share one counter.
  step.add_(1);
  const std::vector<torch::Tensor> steps(params.size(), step);
  at::_fused_adamw_(params, grads, exp_avg, exp_avg_sq, /*max_exp_avg_sqs=*/{}, steps, lr, c.beta1, c.beta2,
                    c.weight_decay, c.eps, /*amsgrad=*/false, /*maximize=*/false, /*grad_scale=*/std::nullopt, skip);
  step.sub_(skip);
}

}  // namespace

void AdamW::step(double lr, const torch::Tensor& skip) {
  fused_update(params_, exp_avg_, exp_avg_sq_, step_, lr, config_, skip);
}

void AdamW::step(const torch::Tensor& lr, const torch::Tensor& skip) {
  SIMCSEPP_CHECK(lr.dim() == 0 && lr.device() == step_.device() && lr.scalar_type() == lr_dtype(lr.device()),
                 "AdamW: the learning rate tensor must be a scalar of lr_dtype() on the params' device");
  fused_update(params_, exp_avg_, exp_avg_sq_, step_, lr, config_, skip);
}

torch::ScalarType AdamW::lr_dtype(torch::Device device) { return device.is_cuda() ? torch::kFloat : torch::kDouble; }

std::vector<torch::Tensor> AdamW::state() const {
  std::vector<torch::Tensor> s;
  for (size_t i = 0; i < params_.size(); ++i) {
    s.push_back(exp_avg_[i]);
    s.push_back(exp_avg_sq_[i]);
  }
  s.push_back(step_);
  return s;
}

void AdamW::load_state(const std::vector<torch::Tensor>& state) {
  SIMCSEPP_CHECK(state.size() == 2 * params_.size() + 1, "optimizer state size mismatch");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    exp_avg_[i].copy_(state[2 * i]);
    exp_avg_sq_[i].copy_(state[2 * i + 1]);
  }
  step_.copy_(state.back());
}

}  // namespace simcsepp::trainer
