// rtd_corruption.h - DiffCSE's edited sentence x'' for replaced-token detection (issue 18),
// following the official code (voidism/DiffCSE train.py's collator and models.py cl_forward):
//
// 1. mask_for_rtd: every token that is not special ([CLS], [SEP], [PAD], [UNK], [MASK]) and not
//    padding is selected with probability `ratio` (0.3 for BERT-base in the paper's recipe); of
//    the selected, 80% become [MASK], half of the rest a uniformly random id of the vocabulary,
//    the others stay (transformers' DataCollatorForLanguageModeling rule).
// 2. replace_tokens: the frozen generator fills the masked sentence with its argmax at EVERY
//    position (not only the masked ones, as the official code does), position 0 is set back to
//    the sentence's [CLS], padding to [PAD] (id 0); a token counts as replaced where the result
//    differs from the original, over all non-padding positions.
// Randomness: row r's draws come from a private CPU generator seeded with row_keys[r]. The trainer
// keys a row by (seed, update, micro-batch, copy, the sentence's global row in the batch), so the
// masks are reproducible on resume, independent of the dropout streams, and a sentence gets the
// same mask on whichever rank encodes it (W ranks of B rows equal one process of W*B rows).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "model/mlm_generator.h"

namespace simcsepp::model {

struct RtdMaskingOptions {
  double ratio = 0.3;
  int64_t mask_id = 103;      // [MASK] in BERT's uncased vocabulary
  int64_t vocab_size = 30522;  // random replacements are drawn from [0, vocab_size)
  std::vector<int64_t> special_ids = {0, 100, 101, 102, 103};  // never selected
};

// ids/attention_mask int64 [B, L] (any device); row_keys.size() == B. The masked ids [B, L].
torch::Tensor mask_for_rtd(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                           const RtdMaskingOptions& options, const std::vector<uint64_t>& row_keys);

struct ReplacedTokens {
  torch::Tensor ids;       // int64 [B, L]: the generator's sentence, [CLS] kept, padding 0
  torch::Tensor replaced;  // int64 [B, L]: 1 where ids differs from the original (non-padding only)
};

// The generator's edit of the masked sentence (no gradient). `dropout`: the generator's dropout.
ReplacedTokens replace_tokens(MlmGenerator& generator, const torch::Tensor& ids, const torch::Tensor& attention_mask,
                              const torch::Tensor& masked_ids, bool dropout);

}  // namespace simcsepp::model
