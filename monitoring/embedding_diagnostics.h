// embedding_diagnostics.h - plain-number diagnostics of sentence embeddings, no torch.
//
//  - effective_rank (Roy & Vetterli, 2007): exp of the Shannon entropy of the normalised singular
//    values, p_k = s_k / sum(s). It is 1 for a rank-one matrix and k for k equal singular values;
//    DCL is meant to raise it (dimensions of the embedding stay decorrelated).
//  - alignment and uniformity (Wang & Isola, 2020; the SimCSE paper's two diagnostics), on
//    L2-normalised embeddings, with SimCSE's defaults alpha = 2, t = 2:
//      alignment  = mean_i ||x_i - y_i||^alpha over positive pairs (lower is better)
//      uniformity = log mean_{i<j} exp(-t ||x_i - x_j||^2) over distinct pairs (lower is better)
// Matrices are row-major [rows x dim] float arrays; the trainer copies them off the device.
#pragma once

#include <cstddef>
#include <span>

namespace simcsepp::monitoring {

// Throws simcsepp::Error on negative or non-finite singular values; 0 for an all-zero input.
double effective_rank(std::span<const double> singular_values);

// `normalize`: L2-normalise each row first (the definition assumes unit vectors); pass false if
// the rows already are. Throws simcsepp::Error on bad shapes (sizes not rows*dim, rows < 1).
double alignment(std::span<const float> x, std::span<const float> y, std::size_t rows, std::size_t dim,
                 double alpha = 2.0, bool normalize = true);
// Needs rows >= 2.
double uniformity(std::span<const float> x, std::size_t rows, std::size_t dim, double t = 2.0, bool normalize = true);

}  // namespace simcsepp::monitoring
