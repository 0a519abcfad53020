// sts_evaluation.h - STS scoring: cosine of the two sentence embeddings, Spearman x 100
// (docs/method.md section 7, SentEval's "all" setting as in SimCSE).
//
// evaluate_sts() scores one pair set (the trainer calls it on STS-B dev every N steps);
// evaluate_sts_suite() scores the loaded SentEval tasks: per subset/split, the "all"
// concatenation for STS12-16, the test split for STS-B and SICK-R, and the plain average.
// Both leave the encoder in the train/eval mode they found it in.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "data/sts_suite.h"
#include "data/wordpiece_tokenizer.h"
#include "model/bert_config.h"
#include "model/sentence_encoder.h"
#include "evaluation/sentence_embedder.h"
#include "evaluation/sts_report.h"

namespace simcsepp::evaluation {

struct StsScore {
  double spearman_x100 = 0;  // NaN when undefined (constant scores)
  int64_t pairs = 0;
  // evaluate_sts only (embedding_geometry.h), NaN when undefined: alignment over the positive
  // pairs (gold > 4 of 0-5, as the SimCSE paper takes STS-B), uniformity over the distinct
  // sentences of the set (the first 8,192 of them; STS-B dev has ~2,900).
  double alignment = std::numeric_limits<double>::quiet_NaN();
  double uniformity = std::numeric_limits<double>::quiet_NaN();
  int64_t positive_pairs = 0;
};

// STS-B dev (or any STS pair set): cosine of the two sentence embeddings, Spearman x 100, and
// the alignment/uniformity of the same embeddings.
// max_len: tokens per sentence including [CLS]/[SEP] (evaluation normally uses the model's max
// positions, default_eval_max_len()); batch_size: sentences per encoder call; bf16: bf16 autocast
// of the encoder (EmbedOptions::bf16). fp32 by default, as `simcsepp eval`: the trainer's best
// checkpoint is then chosen by the score `eval` reproduces.
StsScore evaluate_sts(model::SentenceEncoder& encoder, const data::WordPieceTokenizer& tokenizer,
                      const data::StsPairSet& pairs, model::Pooler pooler, int64_t max_len, int64_t batch_size,
                      torch::Device device, bool bf16 = false);

// Cosine similarity per pair: rows of a [N, H] and b [N, H] (fp32) -> N fp32 scores, accumulated
// in double so identical rows give exactly 1. A zero vector gives 0 (SentEval's nan_to_num).
std::vector<double> cosine_scores(const torch::Tensor& a, const torch::Tensor& b);

// Scores one pair set with an embedder (both sides embedded in one length-sorted pass).
StsScore score_pairs(SentenceEmbedder& embedder, const data::StsPairSet& pairs);

// Scores every loaded task. include_train: also score the train splits of STS-B and SICK (slow;
// SentEval's unsupervised setting reports them, the headline numbers do not use them).
StsSuiteResult evaluate_sts_suite(SentenceEmbedder& embedder, const std::vector<data::LoadedStsTask>& tasks,
                                  bool include_train);

}  // namespace simcsepp::evaluation
