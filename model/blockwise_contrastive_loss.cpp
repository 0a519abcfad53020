// blockwise_contrastive_loss.cpp - see blockwise_contrastive_loss.h.
#include "model/blockwise_contrastive_loss.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "cluster/all_gather_with_grad.h"
#include "base/error.h"
#include "model/loss_precision.h"

namespace simcsepp::model {

namespace {

namespace F = torch::nn::functional;

torch::Tensor unit_rows(const torch::Tensor& x) {
  return F::normalize(at_least_fp32(x), F::NormalizeFuncOptions().p(2).dim(1).eps(1e-8));
}

// Gathered and normalised columns: `unit` carries the graph back to the local view (through the
// gather), `leaf` is what the blocks read and collect gradient in.
struct Columns {
  torch::Tensor unit, leaf;
};
Columns gather_columns(cluster::Communicator& comm, const torch::Tensor& local) {
  Columns c;
  c.unit = unit_rows(cluster::all_gather_with_grad(comm, local.contiguous()));
  c.leaf = c.unit.detach().requires_grad_(true);
  return c;
}

void send_back(Columns& c) {
  if (c.leaf.grad().defined() && c.unit.requires_grad()) c.unit.backward(c.leaf.grad());
}

}  // namespace

torch::Tensor contrastive_loss_blockwise_backward(cluster::Communicator& comm, const ContrastiveViews& views,
                                                  const ContrastiveOptions& options, int64_t block_rows,
                                                  double grad_scale) {
  SIMCSEPP_CHECK(block_rows >= 1, "block_rows must be >= 1");
  const int64_t n = views.anchor.size(0);
  const double inv_tau = 1.0 / options.temperature;
  Columns columns = gather_columns(comm, views.neg_columns);
  Columns hard;
  if (views.hard_negatives.defined()) hard = gather_columns(comm, views.hard_negatives);
  const auto index_options = torch::TensorOptions().dtype(torch::kLong).device(views.anchor.device());
  torch::Tensor total = torch::zeros({}, columns.unit.options().requires_grad(false));
  for (int64_t r0 = 0; r0 < n; r0 += block_rows) {
    const int64_t rows = std::min(block_rows, n - r0);
    const auto anchor = unit_rows(views.anchor.narrow(0, r0, rows));
    const auto positive = unit_rows(views.positive.narrow(0, r0, rows));
    const auto pos = (anchor * positive).sum(1) * (options.pos_ratio * inv_tau);
    const auto neg_anchor = unit_rows(views.neg_anchor.narrow(0, r0, rows));
    auto neg = torch::matmul(neg_anchor, columns.leaf.t()) * inv_tau;  // [rows, W*N]
    const auto own = torch::arange(rows, index_options) + (static_cast<int64_t>(comm.rank()) * n + r0);
    neg = neg.scatter(1, own.unsqueeze(1), -std::numeric_limits<float>::infinity());
    std::vector<torch::Tensor> logits = {pos.unsqueeze(1), neg};
    if (hard.leaf.defined())
      logits.push_back(torch::matmul(neg_anchor, hard.leaf.t()) * inv_tau + std::log(options.hard_negative_weight));
    const auto block_loss = (torch::logsumexp(torch::cat(logits, 1), 1) - pos).sum() / static_cast<double>(n);
    total += block_loss.detach();
    (block_loss * grad_scale).backward();
  }
  // Same order on every rank: the columns' reduce-scatter, then the hard negatives'.
  send_back(columns);
  if (hard.leaf.defined()) send_back(hard);
  return total;
}

}  // namespace simcsepp::model
