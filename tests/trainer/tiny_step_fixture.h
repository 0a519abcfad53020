// tiny_step_fixture.h - what the TrainStep unit tests train on: a tiny BERT (vocab 50, hidden 16,
// 2 layers, the default dropout 0.1) and token batches of random ids without padding.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "data/token_batch.h"
#include "model/bert_config.h"

namespace simcsepp::trainer::testing {

inline model::BertConfig tiny_step_config() {
  model::BertConfig c;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 32;
  c.max_position_embeddings = 16;
  return c;
}

// rows x len ids in [1, 50), all attended; `seed` seeds the default generator.
inline data::TokenBatch random_token_batch(int64_t rows, int64_t len, int seed) {
  data::TokenBatch b;
  b.rows = rows;
  b.max_len = len;
  torch::manual_seed(seed);
  auto ids = torch::randint(1, 50, {rows * len}, torch::kLong);
  b.input_ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
  b.attention_mask.assign(rows * len, 1);
  return b;
}

}  // namespace simcsepp::trainer::testing
