// embedding_diagnostics.h - plain-number diagnostics of sentence embeddings, no torch.
//
//  - effective_rank (Roy & Vetterli, 2007): exp of the Shannon entropy of the normalised singular
//    values, p_k = s_k / sum(s). It is 1 for a rank-one matrix and k for k equal singular values;
//    DCL is meant to raise it (dimensions of the embedding stay decorrelated). The trainer takes
//    the singular values of the batch embedding matrix on the device (torch::linalg_svdvals) and
//    copies only those off it.
// Alignment and uniformity need the embeddings themselves; they are computed where those live
// (evaluation/embedding_geometry.h).
#pragma once

#include <span>

namespace simcsepp::monitoring {

// Throws simcsepp::Error on negative or non-finite singular values; 0 for an all-zero input.
double effective_rank(std::span<const double> singular_values);

}  // namespace simcsepp::monitoring
