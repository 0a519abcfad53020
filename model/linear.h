// linear.h - a Linear layer applied through the ATen op at::linear.
//
// libtorch's nn::Linear::forward (F::linear) decomposes into matmul(x, weight.t()) before the
// dispatcher sees a linear, so autocast casts the view weight.t(), and autocast never caches
// the cast of a view: every use of the weight made a new bf16 copy (and a cast back in
// backward). at::linear reaches autocast with the leaf weight, whose bf16 copy is then cached
// for the whole autocast region (autocast_scope.h; tested in tests/model/autocast_scope_test.cpp).
#pragma once

#include <torch/nn/modules/linear.h>
#include <torch/torch.h>

namespace simcsepp::model {

inline torch::Tensor apply_linear(const torch::nn::Linear& layer, const torch::Tensor& x) {
  return torch::linear(x, layer->weight, layer->bias);
}

}  // namespace simcsepp::model
