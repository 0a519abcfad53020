// equivalence_fixture.h - what both data-parallel equivalence tests train on
// (tests/cluster/equivalence: objective + reducer + SGD; tests/trainer/mpi: TrainStep + AdamW):
// a tiny random BERT without dropout (deterministic calls, so the comparison is of the algebra)
// and global batches every rank can compute, so each takes its own rows.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "model/bert_config.h"

namespace simcsepp::equivalence {

inline model::BertConfig tiny_bert_without_dropout() {
  model::BertConfig c;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 64;
  c.max_position_embeddings = 16;
  c.hidden_dropout_prob = 0.0;
  c.attention_probs_dropout_prob = 0.0;
  return c;
}

// One column of the global batch of `step`: ids [rows, seq_len] with random lengths (>= 3),
// [CLS] first, padding 0; and the matching attention mask.
struct GlobalColumn {
  torch::Tensor ids, mask;
};
inline GlobalColumn random_global_column(int step, int column, int64_t rows, int64_t seq_len) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(1000 * step + column + 7));
  auto ids = torch::randint(5, 64, {rows, seq_len}, gen, torch::kLong);
  auto lengths = torch::randint(3, seq_len + 1, {rows, 1}, gen, torch::kLong);
  auto mask = (torch::arange(seq_len, torch::kLong).unsqueeze(0) < lengths).to(torch::kLong);
  ids.masked_fill_(mask == 0, 0);
  ids.select(1, 0).fill_(2);  // [CLS]
  return {ids, mask};
}

}  // namespace simcsepp::equivalence
