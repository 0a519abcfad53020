// dcl_loss.h - dimension-wise contrastive learning (method.md 3).
//
// Z1, Z2: the two dropout-on views [N, d]. Each dimension is standardised over the batch
// (biased variance, eps 1e-5, no affine: BatchNorm1d(affine=False) in training mode), then
//   C = Zt1^T Zt2 / N_global,   L = (1/d) sum_k [ -C_kk / tau_d + log sum_l exp(C_kl / tau_d) ].
// Statistics and C are over the GLOBAL batch: both views go through all_gather_with_grad and
// every rank computes the same value. Because the gather's backward sums over ranks and the
// gradient reducer averages, the update equals one process holding the global batch.
#pragma once

#include <torch/types.h>

#include "cluster/communicator.h"

namespace simcsepp::model {

torch::Tensor dcl_loss(cluster::Communicator& comm, const torch::Tensor& z1, const torch::Tensor& z2,
                       double dcl_temperature);

}  // namespace simcsepp::model
