// gradient_reducer.h - averages gradients over ranks before the optimizer step.
//
// Gradients live in one flat buffer per dtype; every parameter's .grad() is a view into it, so
// the all-reduce is a few large calls instead of one per tensor. Usage per step:
//   reducer.zero_grad();   // before the forward passes (keeps the views, zeroes the buffer)
//   loss.backward();
//   reducer.reduce();      // after backward: every rank holds the average gradient
// Calls come from the training thread only.
#pragma once

#include <torch/types.h>

#include <vector>

#include "cluster/communicator.h"

namespace simcsepp::cluster {

class GradientReducer {
 public:
  GradientReducer(Communicator& comm, std::vector<torch::Tensor> params);

  void zero_grad();
  void reduce();

  // The flat gradient buffers (one per dtype), e.g. for the global grad norm.
  const std::vector<torch::Tensor>& buffers() const { return buffers_; }

 private:
  Communicator& comm_;
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> buffers_;
};

}  // namespace simcsepp::cluster
