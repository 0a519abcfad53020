// token_batch.cpp - pad_batch (see token_batch.h).
#include "data/token_batch.h"

#include <algorithm>

#include "cluster/base/error.h"

namespace simcsepp::data {

TokenBatch pad_batch(const std::vector<std::vector<int32_t>>& sequences, int64_t max_len, int32_t pad_id) {
  if (max_len < 1) throw Error("max_len must be positive, got " + std::to_string(max_len), "max_len", "");
  TokenBatch batch;
  batch.rows = static_cast<int64_t>(sequences.size());
  batch.max_len = max_len;
  batch.input_ids.assign(static_cast<size_t>(batch.rows * max_len), pad_id);
  batch.attention_mask.assign(static_cast<size_t>(batch.rows * max_len), 0);
  for (int64_t r = 0; r < batch.rows; ++r) {
    const auto& seq = sequences[static_cast<size_t>(r)];
    const int64_t n = std::min<int64_t>(max_len, static_cast<int64_t>(seq.size()));
    std::copy(seq.begin(), seq.begin() + n, batch.input_ids.begin() + r * max_len);
    std::fill_n(batch.attention_mask.begin() + r * max_len, n, 1);
  }
  return batch;
}

}  // namespace simcsepp::data
