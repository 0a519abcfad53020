// embedding_diagnostics.cpp - effective rank in double precision.
#include "monitoring/embedding_diagnostics.h"

#include <cmath>
#include <string>

#include "base/error.h"

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

}  // namespace simcsepp::monitoring
