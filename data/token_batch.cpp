// token_batch.cpp - pad_batch (see token_batch.h).
#include "data/token_batch.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"

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

PackedTokens pack_tokens(const std::vector<TokenBatch>& columns, HostMemory& memory) {
  PackedTokens packed;
  for (const auto& c : columns) {
    SIMCSEPP_CHECK(static_cast<int64_t>(c.input_ids.size()) == c.rows * c.max_len &&
                       c.attention_mask.size() == c.input_ids.size(),
                   "TokenBatch size mismatch");
    packed.elements += 2 * c.rows * c.max_len;
  }
  packed.data = memory.allocate(packed.elements);
  SIMCSEPP_CHECK(packed.data != nullptr || packed.elements == 0, "HostMemory returned no memory");
  int64_t* out = packed.data.get();
  for (const auto& c : columns) {
    const size_t bytes = c.input_ids.size() * sizeof(int64_t);
    std::memcpy(out, c.input_ids.data(), bytes);
    std::memcpy(out + c.input_ids.size(), c.attention_mask.data(), bytes);
    out += 2 * c.input_ids.size();
  }
  return packed;
}

}  // namespace simcsepp::data
