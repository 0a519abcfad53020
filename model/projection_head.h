// projection_head.h - DiffCSE's BatchNorm projector (`--projector batchnorm`; the official code's
// ProjectionMLP, used by its BERT recipe with --batchnorm): Linear(H, 2H, no bias), BatchNorm(2H),
// ReLU, Linear(2H, H, no bias), BatchNorm(H) without affine parameters, in place of SimCSE's
// Linear + tanh head on the [CLS] state during training.
//
// BatchNorm always uses the statistics of the batch it is given (the projector exists only in
// training: evaluation and export take [CLS] before any head, as the official --mlp_only_train),
// and the batch is the GLOBAL one: the rows of every rank are gathered (with gradient) for the
// mean and the biased variance, so W ranks of B rows equal one process of W*B rows. Each encoder
// call is its own batch, as each forward of the official model is. eps 1e-5 (torch's default).
// Parameter names follow the official module: net.0.weight, net.1.weight, net.1.bias, net.3.weight.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include "cluster/communicator.h"

namespace simcsepp::model {

class ProjectionHeadImpl : public torch::nn::Module {
 public:
  explicit ProjectionHeadImpl(int64_t hidden_size);
  // cls [B, H] -> [B, H]; `comm` gives the other ranks' rows of the batch statistics.
  torch::Tensor forward(const torch::Tensor& cls, cluster::Communicator& comm);
  // Linear weights ~ N(0, std) from a private generator seeded with `seed` (the official model's
  // init_weights on its Linear layers); BatchNorm weight 1, bias 0.
  void reset(uint64_t seed, double std);

  torch::nn::Linear up{nullptr}, down{nullptr};  // registered as net.0 and net.3
  torch::Tensor norm_weight, norm_bias;          // net.1 (the affine BatchNorm)
};
TORCH_MODULE(ProjectionHead);

// BatchNorm of `x` [B, D] with the mean and biased variance over the rows of every rank.
torch::Tensor global_batch_norm(const torch::Tensor& x, cluster::Communicator& comm, double eps = 1e-5);

}  // namespace simcsepp::model
