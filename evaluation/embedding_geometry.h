// embedding_geometry.h - the SimCSE paper's two diagnostics of an embedding space (Wang & Isola,
// 2020), on L2-normalised rows, with SimCSE's defaults alpha = 2, t = 2:
//   alignment  = mean_i ||x_i - y_i||^alpha over positive pairs          (lower is better)
//   uniformity = log mean_{i<j} exp(-t ||x_i - x_j||^2) over distinct rows (lower is better)
// Same values as the SimCSE repository's align_loss / uniform_loss (F.normalize, pdist), but
// uniformity goes through the Gram matrix (one matmul instead of pdist: 3x faster on a CPU for
// all of STS-B dev, and a few milliseconds on a GPU). Computed in float64 on the tensors' device.
// The trainer reports both for STS-B dev at every evaluation (sts_evaluation.h).
#pragma once

#include <torch/types.h>

namespace simcsepp::evaluation {

// x, y: [N, d], N >= 1. Throws simcsepp::Error on mismatched or empty shapes.
double embedding_alignment(const torch::Tensor& x, const torch::Tensor& y, double alpha = 2.0);
// x: [N, d], N >= 2.
double embedding_uniformity(const torch::Tensor& x, double t = 2.0);

}  // namespace simcsepp::evaluation
