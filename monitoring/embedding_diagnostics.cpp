// embedding_diagnostics.cpp - effective rank, alignment and uniformity in double precision.
#include "monitoring/embedding_diagnostics.h"

#include <cmath>
#include <string>
#include <vector>

#include "cluster/base/error.h"

namespace simcsepp::monitoring {

double effective_rank(std::span<const double> singular_values) {
  double total = 0.0;
  for (std::size_t i = 0; i < singular_values.size(); ++i) {
    const double s = singular_values[i];
    if (!std::isfinite(s) || s < 0) {
      throw Error("singular value " + std::to_string(i) + " is " + std::to_string(s), "effective_rank",
                  "pass the singular values of a finite embedding matrix (S of torch.linalg.svdvals)");
    }
    total += s;
  }
  if (total == 0.0) return 0.0;
  double entropy = 0.0;
  for (const double s : singular_values) {
    const double p = s / total;
    if (p > 0) entropy -= p * std::log(p);  // 0 log 0 = 0
  }
  return std::exp(entropy);
}

namespace {

void check_shape(std::size_t size, std::size_t rows, std::size_t dim, std::size_t min_rows, const char* what) {
  if (rows < min_rows || dim < 1 || size != rows * dim) {
    throw Error(std::string(what) + ": got " + std::to_string(size) + " values for " + std::to_string(rows) +
                    " rows x " + std::to_string(dim) + " dims",
                what, "pass a row-major [rows x dim] matrix with at least " + std::to_string(min_rows) + " rows");
  }
}

// Row-major copy in double, each row scaled to unit length when asked (zero rows stay zero).
std::vector<double> rows_of(std::span<const float> x, std::size_t rows, std::size_t dim, bool normalize) {
  std::vector<double> out(x.begin(), x.end());
  if (!normalize) return out;
  for (std::size_t r = 0; r < rows; ++r) {
    double norm = 0.0;
    for (std::size_t d = 0; d < dim; ++d) norm += out[r * dim + d] * out[r * dim + d];
    norm = std::sqrt(norm);
    if (norm > 0) {
      for (std::size_t d = 0; d < dim; ++d) out[r * dim + d] /= norm;
    }
  }
  return out;
}

double squared_distance(const double* a, const double* b, std::size_t dim) {
  double s = 0.0;
  for (std::size_t d = 0; d < dim; ++d) s += (a[d] - b[d]) * (a[d] - b[d]);
  return s;
}

}  // namespace

double alignment(std::span<const float> x, std::span<const float> y, std::size_t rows, std::size_t dim, double alpha,
                 bool normalize) {
  check_shape(x.size(), rows, dim, 1, "alignment x");
  check_shape(y.size(), rows, dim, 1, "alignment y");
  const auto a = rows_of(x, rows, dim, normalize);
  const auto b = rows_of(y, rows, dim, normalize);
  double sum = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    sum += std::pow(std::sqrt(squared_distance(&a[r * dim], &b[r * dim], dim)), alpha);
  }
  return sum / double(rows);
}

double uniformity(std::span<const float> x, std::size_t rows, std::size_t dim, double t, bool normalize) {
  check_shape(x.size(), rows, dim, 2, "uniformity");
  const auto a = rows_of(x, rows, dim, normalize);
  // log-mean-exp with the largest exponent factored out, so tiny means do not underflow to -inf.
  std::vector<double> exponents;
  exponents.reserve(rows * (rows - 1) / 2);
  double largest = -INFINITY;
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = i + 1; j < rows; ++j) {
      const double e = -t * squared_distance(&a[i * dim], &a[j * dim], dim);
      exponents.push_back(e);
      largest = std::max(largest, e);
    }
  }
  double sum = 0.0;
  for (const double e : exponents) sum += std::exp(e - largest);
  return largest + std::log(sum / double(exponents.size()));
}

}  // namespace simcsepp::monitoring
