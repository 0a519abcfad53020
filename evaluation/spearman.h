// spearman.h - rank correlation as scipy.stats.spearmanr computes it.
//
// Spearman's rho = Pearson correlation of the ranks, where tied values share the average of the
// ranks they span (scipy.stats.rankdata(method="average")). Computed in double on the host: the
// STS sets have at most a few thousand pairs, so this is never the bottleneck.
#pragma once

#include <vector>

namespace simcsepp::evaluation {

// 1-based ranks; ties get the mean of their positions (e.g. {10, 20, 20, 30} -> {1, 2.5, 2.5, 4}).
// Values must not be NaN.
std::vector<double> average_ranks(const std::vector<double>& values);

// Pearson correlation; NaN when either input is constant or the inputs have fewer than 2 values
// (scipy returns NaN there too). Throws simcsepp::Error on a length mismatch.
double pearson(const std::vector<double>& x, const std::vector<double>& y);

// Spearman correlation with average ranks for ties, in [-1, 1] (NaN as for pearson).
double spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace simcsepp::evaluation
