// embedding_geometry.cpp - see embedding_geometry.h.
#include "evaluation/embedding_geometry.h"

#include <torch/torch.h>

#include "base/error.h"

namespace simcsepp::evaluation {

namespace {

torch::Tensor unit_rows(const torch::Tensor& x) {
  return torch::nn::functional::normalize(x.to(torch::kFloat64),
                                          torch::nn::functional::NormalizeFuncOptions().p(2).dim(1));
}

}  // namespace

double embedding_alignment(const torch::Tensor& x, const torch::Tensor& y, double alpha) {
  if (x.dim() != 2 || x.sizes() != y.sizes() || x.size(0) < 1) {
    throw Error("alignment needs two [N, d] embedding matrices of one shape with N >= 1, got " +
                    std::to_string(x.dim()) + "-d and " + std::to_string(y.dim()) + "-d",
                "embedding_alignment", "pass the embeddings of both sides of the positive pairs");
  }
  torch::NoGradGuard no_grad;
  return (unit_rows(x) - unit_rows(y)).norm(2, 1).pow(alpha).mean().item<double>();
}

double embedding_uniformity(const torch::Tensor& x, double t) {
  if (x.dim() != 2 || x.size(0) < 2) {
    throw Error("uniformity needs an [N, d] embedding matrix with N >= 2", "embedding_uniformity",
                "pass at least two sentence embeddings");
  }
  torch::NoGradGuard no_grad;
  const auto u = unit_rows(x);
  const auto sq_norm = (u * u).sum(1);
  // ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b; clamped at 0 against rounding (|a| = 0 for zero rows).
  const auto sq_dist = (sq_norm.unsqueeze(1) + sq_norm.unsqueeze(0) - 2 * u.matmul(u.t())).clamp_min(0);
  const int64_t n = x.size(0);
  const auto upper = torch::ones({n, n}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).triu(1);
  const auto exponents = sq_dist.masked_select(upper).mul(-t);
  // log mean exp via logsumexp, so a very uniform space does not underflow to log 0.
  return (torch::logsumexp(exponents, 0) - std::log(static_cast<double>(exponents.numel()))).item<double>();
}

}  // namespace simcsepp::evaluation
