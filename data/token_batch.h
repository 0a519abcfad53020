// token_batch.h - a fixed-shape padded batch of token ids (static shapes: always rows x max_len).
//
// Static shapes let the trainer capture the whole step as one CUDA graph (architecture.md).
#pragma once

#include <cstdint>
#include <vector>

namespace simcsepp::data {

struct TokenBatch {
  int64_t rows = 0;
  int64_t max_len = 0;
  std::vector<int64_t> input_ids;       // rows*max_len, row-major, padded with pad_id
  std::vector<int64_t> attention_mask;  // rows*max_len, 1 for tokens, 0 for padding
};

// Pads (or truncates, keeping the first max_len ids) each sequence to max_len.
TokenBatch pad_batch(const std::vector<std::vector<int32_t>>& sequences, int64_t max_len, int32_t pad_id);

}  // namespace simcsepp::data
