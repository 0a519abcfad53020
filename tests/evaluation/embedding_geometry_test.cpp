// Alignment and uniformity (evaluation/embedding_geometry.h): closed-form cases, and random
// matrices against a brute-force double loop over all pairs written from the definition.
#include "evaluation/embedding_geometry.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "base/error.h"

namespace simcsepp::evaluation {
namespace {

torch::Tensor rows(std::vector<float> v, int64_t n, int64_t d) {
  return torch::tensor(v, torch::kFloat).reshape({n, d});
}

TEST(EmbeddingAlignment, KnownValues) {
  const auto x = rows({1, 0, 0, 2}, 2, 2);  // normalised: (1,0), (0,1)
  EXPECT_NEAR(embedding_alignment(x, x), 0.0, 1e-12);
  const auto y = rows({0, 3, 1, 0}, 2, 2);  // orthogonal to x row by row: ||a - b||^2 = 2
  EXPECT_NEAR(embedding_alignment(x, y), 2.0, 1e-12);
  EXPECT_NEAR(embedding_alignment(x, y, /*alpha=*/1.0), std::sqrt(2.0), 1e-12);
  EXPECT_THROW(embedding_alignment(x, rows({1, 2, 3}, 3, 1)), Error);
}

TEST(EmbeddingUniformity, KnownValues) {
  // Two antipodal points: ||x - y||^2 = 4 -> log exp(-2 * 4) = -8.
  EXPECT_NEAR(embedding_uniformity(rows({1, 0, -2, 0}, 2, 2)), -8.0, 1e-12);
  // Identical points: every distance 0 -> log 1 = 0.
  EXPECT_NEAR(embedding_uniformity(rows({1, 1, 1, 1, 1, 1}, 3, 2)), 0.0, 1e-12);
  // Far below exp's range, still finite thanks to logsumexp.
  EXPECT_NEAR(embedding_uniformity(rows({1, 0, -1, 0}, 2, 2), /*t=*/500.0), -2000.0, 1e-9);
  EXPECT_THROW(embedding_uniformity(rows({1, 0}, 1, 2)), Error);
}

TEST(EmbeddingGeometry, MatchesBruteForceOnRandomMatrices) {
  torch::manual_seed(3);
  for (const auto& [n, d] : {std::pair<int64_t, int64_t>{50, 16}, {200, 96}}) {
    const auto x = torch::randn({n, d});
    const auto y = x + 0.3 * torch::randn({n, d});
    auto a = x.to(torch::kFloat64).contiguous();
    auto b = y.to(torch::kFloat64).contiguous();
    const auto na = a.norm(2, 1), nb = b.norm(2, 1);
    double align = 0, mean_exp = 0;
    for (int64_t i = 0; i < n; ++i) {
      double sq = 0;
      for (int64_t k = 0; k < d; ++k) {
        const double diff = a[i][k].item<double>() / na[i].item<double>() - b[i][k].item<double>() / nb[i].item<double>();
        sq += diff * diff;
      }
      align += sq;
    }
    align /= double(n);
    const auto unit = (a / na.unsqueeze(1)).contiguous();
    const double* u = unit.data_ptr<double>();
    int64_t pairs = 0;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = i + 1; j < n; ++j, ++pairs) {
        double sq = 0;
        for (int64_t k = 0; k < d; ++k) sq += (u[i * d + k] - u[j * d + k]) * (u[i * d + k] - u[j * d + k]);
        mean_exp += std::exp(-2.0 * sq);
      }
    }
    const double uniform = std::log(mean_exp / double(pairs));
    EXPECT_NEAR(embedding_alignment(x, y), align, 1e-9 * std::abs(align));
    EXPECT_NEAR(embedding_uniformity(x), uniform, 1e-9 * std::abs(uniform));
  }
}

}  // namespace
}  // namespace simcsepp::evaluation
