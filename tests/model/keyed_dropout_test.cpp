// keyed_dropout_test.cpp - the test-only keyed dropout masks (model/dropout_masks.h): a sentence's
// masks depend on its global row id, view and the call, not on how rows are split across calls
// (ranks) or on padding; that is what the data-parallel equivalence tests rely on.
// Float64: the compared calls run matmuls of other shapes, which agree to ~1e-15 in float64; a
// different mask moves embeddings by >= 1e-2.
#include "model/dropout_masks.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/sentence_encoder.h"

using namespace simcsepp::model;

namespace {

SentenceEncoder make_encoder() {
  BertConfig c;
  c.vocab_size = 50;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  c.max_position_embeddings = 16;  // hidden and attention dropout 0.1 (the defaults)
  torch::manual_seed(4);
  SentenceEncoder encoder(c);
  encoder->to(torch::kDouble);
  encoder->train();
  return encoder;
}

simcsepp::model::testing::KeyedDropoutOptions keyed(int64_t first_row, int64_t rows) {
  simcsepp::model::testing::KeyedDropoutOptions o;
  o.seed = 11;
  o.first_row = first_row;
  o.rows_per_view = rows;
  o.max_length = 16;
  return o;
}

// Four sentences of length 6, the last one padded after 3 tokens.
torch::Tensor ids() { return torch::tensor({{2, 7, 9, 11, 4, 3}, {2, 8, 5, 3, 6, 9}, {2, 4, 4, 8, 9, 3}, {2, 5, 3, 0, 0, 0}}); }
torch::Tensor mask() { return torch::tensor({{1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0}}); }

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST(KeyedDropout, SameMasksWhateverTheRowSplit) {
  auto encoder = make_encoder();
  torch::Tensor whole, first, second;
  {
    simcsepp::model::testing::KeyedDropoutScope scope(keyed(0, 4));
    whole = encoder->forward(ids(), mask(), Pooler::kAvg);
  }
  {
    simcsepp::model::testing::KeyedDropoutScope scope(keyed(0, 2));  // "rank 0" of two
    first = encoder->forward(ids().narrow(0, 0, 2), mask().narrow(0, 0, 2), Pooler::kAvg);
  }
  {
    simcsepp::model::testing::KeyedDropoutScope scope(keyed(2, 2));  // "rank 1"
    second = encoder->forward(ids().narrow(0, 2, 2), mask().narrow(0, 2, 2), Pooler::kAvg);
  }
  EXPECT_LE(max_diff(whole, torch::cat({first, second})), 1e-12);
  // Dropout was applied: the dropout-off call differs.
  EXPECT_GT(max_diff(whole, encoder->forward(ids(), mask(), Pooler::kAvg, /*dropout_on=*/false)), 1e-3);
}

TEST(KeyedDropout, CopiesOfASentenceAndLaterCallsGetOtherMasks) {
  auto encoder = make_encoder();
  simcsepp::model::testing::KeyedDropoutScope scope(keyed(0, 4));
  // The unsupervised 2N call: view 0 and view 1 of each sentence.
  const auto both = encoder->forward(torch::cat({ids(), ids()}), torch::cat({mask(), mask()}), Pooler::kAvg);
  const auto again = encoder->forward(ids(), mask(), Pooler::kAvg);  // the next call
  for (int64_t r = 0; r < 4; ++r) {
    EXPECT_GT(max_diff(both[r], both[4 + r]), 1e-3) << "row " << r;
    EXPECT_GT(max_diff(both[r], again[r]), 1e-3) << "row " << r;
  }
}

TEST(KeyedDropout, MasksDoNotDependOnPadding) {
  auto encoder = make_encoder();
  torch::Tensor padded, alone;
  {
    simcsepp::model::testing::KeyedDropoutScope scope(keyed(0, 4));
    padded = encoder->forward(ids(), mask(), Pooler::kAvg)[3];
  }
  {
    simcsepp::model::testing::KeyedDropoutScope scope(keyed(3, 1));  // sentence 3 alone, unpadded
    alone = encoder->forward(ids().narrow(0, 3, 1).narrow(1, 0, 3), mask().narrow(0, 3, 1).narrow(1, 0, 3),
                             Pooler::kAvg)[0];
  }
  EXPECT_LE(max_diff(padded, alone), 1e-12);
}
