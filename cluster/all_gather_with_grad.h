// all_gather_with_grad.h - an autograd-aware all-gather for cross-rank negatives.
//
// Forward: ranks' [n, d] tensors concatenated along dim 0 in rank order -> [world*n, d].
// Backward: reduce-scatter (sum) of the incoming gradient, so rank r's rows receive the sum of
// every rank's gradient with respect to them (every rank uses them as negative columns).
// With a world of one it is the identity (unless the communicator forces collectives for a test).
#pragma once

#include <torch/types.h>

#include "cluster/communicator.h"

namespace simcsepp::cluster {

torch::Tensor all_gather_with_grad(Communicator& comm, const torch::Tensor& local);

}  // namespace simcsepp::cluster
