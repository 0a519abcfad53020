// contrastive_loss.h - the instance-level contrastive losses on sentence embeddings
// (method.md 1, 2, 4): unsupervised SimCSE, off-dropout negatives and supervised SimCSE with
// hard negatives are one formula with different inputs:
//
//   loss_i = -pos_i + log( exp(pos_i) + sum_{j != i} exp(s(a_i, c_j)) + sum_j w exp(s(a_i, n_j)) )
//   pos_i  = m * s(h_i, h_i+),   s(x, y) = cos(x, y) / tau
//
// where a = neg_anchor, c = the gathered negative columns and n = the gathered hard negatives.
// Plain SimCSE: a = h, c = h+ (then it is cross-entropy over the N x N matrix, m = 1).
// Off-dropout:  a = hbar, c = hbar (dropout-off views; the dropout-on views stay local).
// Supervised:   a = h(sent0), c = h(sent1), n = h(hard_neg).
//
// Multi-process: c and n go through all_gather_with_grad, so each rank scores its own rows
// against the global columns; the self column of local row i is rank*N + i. The result is the
// mean over the LOCAL rows; averaging gradients over ranks then equals one process with the
// global batch. No host synchronisation: shapes are static and masks are built on device.
#pragma once

#include <torch/types.h>

#include "cluster/communicator.h"

namespace simcsepp::model {

struct ContrastiveViews {
  torch::Tensor anchor;          // [N, d] h_i (dropout on)
  torch::Tensor positive;        // [N, d] h_i+ (dropout on), local only
  torch::Tensor neg_anchor;      // [N, d] anchor of the negative similarities (h or hbar)
  torch::Tensor neg_columns;     // [N, d] this rank's negative-side views (gathered inside)
  torch::Tensor hard_negatives;  // [N, d] or undefined (supervised only; gathered inside)
};

struct ContrastiveOptions {
  double temperature = 0.05;
  double pos_ratio = 1.0;             // m
  double hard_negative_weight = 1.0;  // w > 0
};

// Mean over local rows of loss_i (a 0-dim float32 tensor with gradient).
torch::Tensor contrastive_loss(cluster::Communicator& comm, const ContrastiveViews& views,
                               const ContrastiveOptions& options);

}  // namespace simcsepp::model
