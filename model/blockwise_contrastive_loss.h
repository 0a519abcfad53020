// blockwise_contrastive_loss.h - the instance loss of contrastive_loss.h together with its
// gradient, computed in row blocks of the logits (a row-block logsumexp): at most block_rows x
// W*N logits (and their softmax) exist at once instead of N x W*N, the next memory wall of
// very large global batches once gradient caching has bounded the encoder's activations.
//
// For views that are leaf tensors (gradient caching, trainer/chunked_forward_backward.h): the
// loss times grad_scale is backpropagated block by block into the views' .grad(). The gathered
// negative columns (all_gather_with_grad) are normalised once; their gradient is summed over
// the blocks and sent back through the gather once (one reduce-scatter per gathered view, as
// the dense loss's backward does), so each rank's views also receive the other ranks' terms.
// Same value and gradient as contrastive_loss() up to summation order (tested against it).
// Every rank must call it with the same N and block_rows (collectives inside).
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "cluster/communicator.h"
#include "model/contrastive_loss.h"

namespace simcsepp::model {

// Returns the loss (mean over local rows, detached); accumulates d(grad_scale * loss)/d(view)
// into the .grad() of every view that requires grad.
torch::Tensor contrastive_loss_blockwise_backward(cluster::Communicator& comm, const ContrastiveViews& views,
                                                  const ContrastiveOptions& options, int64_t block_rows,
                                                  double grad_scale);

}  // namespace simcsepp::model
