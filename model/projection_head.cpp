// projection_head.cpp - see projection_head.h.
#include "model/projection_head.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "cluster/all_gather_with_grad.h"
#include "model/linear.h"

namespace simcsepp::model {

ProjectionHeadImpl::ProjectionHeadImpl(int64_t hidden_size) {
  auto net = register_module("net", std::make_shared<torch::nn::Module>());
  up = net->register_module("0", torch::nn::Linear(torch::nn::LinearOptions(hidden_size, 2 * hidden_size).bias(false)));
  auto norm = net->register_module("1", std::make_shared<torch::nn::Module>());
  norm_weight = norm->register_parameter("weight", torch::ones({2 * hidden_size}));
  norm_bias = norm->register_parameter("bias", torch::zeros({2 * hidden_size}));
  down = net->register_module("3", torch::nn::Linear(torch::nn::LinearOptions(2 * hidden_size, hidden_size).bias(false)));
}

void ProjectionHeadImpl::reset(uint64_t seed, double std) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  for (auto* w : {&up->weight, &down->weight}) {
    auto cpu = torch::empty(w->sizes(), torch::kFloat32);
    cpu.normal_(0.0, std, generator);
    w->copy_(cpu);
  }
  norm_weight.fill_(1.0);
  norm_bias.zero_();
}

torch::Tensor global_batch_norm(const torch::Tensor& x, cluster::Communicator& comm, double eps) {
  // Statistics in fp32 under bf16 autocast (as torch's batch_norm), float64 for a float64 model.
  const auto xf = x.scalar_type() == torch::kDouble ? x : x.to(torch::kFloat);
  const auto all = comm.world_size() > 1 ? cluster::all_gather_with_grad(comm, xf.contiguous()) : xf;
  const auto mean = all.mean(0, /*keepdim=*/true);
  const auto var = (all - mean).pow(2).mean(0, /*keepdim=*/true);
  return (xf - mean) / torch::sqrt(var + eps);
}

torch::Tensor ProjectionHeadImpl::forward(const torch::Tensor& cls, cluster::Communicator& comm) {
  auto h = global_batch_norm(apply_linear(up, cls), comm) * norm_weight + norm_bias;
  h = torch::relu(h);
  return global_batch_norm(apply_linear(down, h), comm);
}

}  // namespace simcsepp::model
