// contrastive_loss.cpp - see contrastive_loss.h for the formula and the multi-process contract.
#include "model/contrastive_loss.h"

#include <torch/torch.h>

#include <cmath>

#include "cluster/all_gather_with_grad.h"
#include "model/loss_precision.h"

namespace simcsepp::model {

namespace {

namespace F = torch::nn::functional;

// The loss runs in fp32 even under bf16 autocast (loss_precision.h).
torch::Tensor unit_rows(const torch::Tensor& x) {
  return F::normalize(at_least_fp32(x), F::NormalizeFuncOptions().p(2).dim(1).eps(1e-8));
}

}  // namespace

torch::Tensor contrastive_loss(cluster::Communicator& comm, const ContrastiveViews& views,
                               const ContrastiveOptions& options) {
  const int64_t n = views.anchor.size(0);
  const double inv_tau = 1.0 / options.temperature;

  const auto anchor = unit_rows(views.anchor);
  const auto positive = unit_rows(views.positive);
  const auto pos = (anchor * positive).sum(1) * (options.pos_ratio * inv_tau);  // [N]

  const auto neg_anchor = unit_rows(views.neg_anchor);
  const auto columns = unit_rows(cluster::all_gather_with_grad(comm, views.neg_columns.contiguous()));
  auto neg = torch::matmul(neg_anchor, columns.t()) * inv_tau;  // [N, W*N]
  // Exclude each row's own column (global index rank*N + i): built on device, no host sync.
  const auto own = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(neg.device())) +
                   static_cast<int64_t>(comm.rank()) * n;
  neg = neg.scatter(1, own.unsqueeze(1), -std::numeric_limits<float>::infinity());

  std::vector<torch::Tensor> logits = {pos.unsqueeze(1), neg};
  if (views.hard_negatives.defined()) {
    const auto hard = unit_rows(cluster::all_gather_with_grad(comm, views.hard_negatives.contiguous()));
    logits.push_back(torch::matmul(neg_anchor, hard.t()) * inv_tau + std::log(options.hard_negative_weight));
  }
  return (torch::logsumexp(torch::cat(logits, 1), 1) - pos).mean();
}

}  // namespace simcsepp::model
