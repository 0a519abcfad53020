// equivalence_fixture.h - what both data-parallel equivalence tests train on
// (tests/cluster/equivalence: objective + reducer + SGD; tests/trainer/mpi: TrainStep + AdamW):
// a tiny random BERT with dropout 0.1 under keyed masks (model/dropout_masks.h: a sentence gets
// the same masks whichever rank encodes it, so the dropout-on and dropout-off views differ and
// the comparison still is of the algebra) and global batches every rank can compute, so each
// takes its own rows.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "model/bert_config.h"
#include "model/dropout_masks.h"

namespace simcsepp::equivalence {

inline constexpr double kDropout = 0.1;
inline constexpr uint64_t kDropoutSeed = 77;

inline model::BertConfig tiny_bert(double dropout = kDropout) {
  model::BertConfig c;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 64;
  c.max_position_embeddings = 16;
  c.hidden_dropout_prob = dropout;
  c.attention_probs_dropout_prob = dropout;
  return c;
}

// Keyed dropout for the calls of update `update` in a process whose rows are
// [first_row, first_row + rows) of the global batch.
inline model::testing::KeyedDropoutOptions keyed_dropout(int64_t update, int64_t first_row, int64_t rows) {
  model::testing::KeyedDropoutOptions o;
  o.seed = kDropoutSeed;
  o.update = update;
  o.first_row = first_row;
  o.rows_per_view = rows;
  o.max_length = tiny_bert().max_position_embeddings;
  return o;
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
