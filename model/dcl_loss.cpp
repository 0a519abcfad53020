// dcl_loss.cpp - see dcl_loss.h.
#include "model/dcl_loss.h"

#include <torch/torch.h>

#include "cluster/all_gather_with_grad.h"
#include "model/loss_precision.h"

namespace simcsepp::model {

namespace {

torch::Tensor standardise_columns(const torch::Tensor& z) {
  const auto mean = z.mean(0, /*keepdim=*/true);
  const auto var = (z - mean).pow(2).mean(0, /*keepdim=*/true);  // biased, as BatchNorm in training
  return (z - mean) / torch::sqrt(var + 1e-5);
}

}  // namespace

torch::Tensor dcl_loss(cluster::Communicator& comm, const torch::Tensor& z1, const torch::Tensor& z2,
                       double dcl_temperature) {
  const auto g1 = standardise_columns(cluster::all_gather_with_grad(comm, at_least_fp32(z1).contiguous()));
  const auto g2 = standardise_columns(cluster::all_gather_with_grad(comm, at_least_fp32(z2).contiguous()));
  const int64_t rows = g1.size(0);
  const auto c = torch::matmul(g1.t(), g2) / static_cast<double>(rows) / dcl_temperature;  // [d, d]
  return (torch::logsumexp(c, 1) - c.diagonal()).mean();
}

}  // namespace simcsepp::model
