// token_batch.h - a fixed-shape padded batch of token ids (static shapes: always rows x max_len).
//
// Static shapes let the trainer capture the whole step as one CUDA graph (architecture.md).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "data/host_memory.h"

namespace simcsepp::data {

struct TokenBatch {
  int64_t rows = 0;
  int64_t max_len = 0;
  std::vector<int64_t> input_ids;       // rows*max_len, row-major, padded with pad_id
  std::vector<int64_t> attention_mask;  // rows*max_len, 1 for tokens, 0 for padding
};

// One micro-batch's tokens in one block, laid out as the trainer stages them on the device
// (trainer/batch_stager.h): for each column in order, its ids then its mask, rows x max_len
// int64 each. One block = one non-blocking host-to-device copy.
struct PackedTokens {
  std::shared_ptr<int64_t> data;  // null: not packed
  int64_t elements = 0;
};

// The columns of one micro-batch packed into a block from `memory`.
PackedTokens pack_tokens(const std::vector<TokenBatch>& columns, HostMemory& memory);

// Pads (or truncates, keeping the first max_len ids) each sequence to max_len.
TokenBatch pad_batch(const std::vector<std::vector<int32_t>>& sequences, int64_t max_len, int32_t pad_id);

}  // namespace simcsepp::data
