// sts_evaluation.cpp - cosine + Spearman scoring of STS pair sets and of the SentEval suite.
#include "evaluation/sts_evaluation.h"

#include <torch/torch.h>

#include <limits>
#include <string_view>
#include <unordered_set>

#include "base/error.h"
#include "base/log.h"
#include "evaluation/embedding_geometry.h"
#include "evaluation/spearman.h"

namespace simcsepp::evaluation {

std::vector<double> cosine_scores(const torch::Tensor& a, const torch::Tensor& b) {
  SIMCSEPP_CHECK(a.dim() == 2 && a.sizes() == b.sizes(), "cosine_scores needs two [N, H] tensors of one shape");
  // fp32 embeddings; the three dot products accumulate in double and the cosine is rounded to
  // fp32. Rounding order then cannot split ties: identical embeddings give exactly 1 (SentEval's
  // all-fp32 numpy version returns 1 +- 1 ulp depending on summation order, so its ranking of
  // identical pairs is rounding noise). A zero vector scores 0, as SentEval's nan_to_num.
  auto x = a.to(torch::kFloat32).to(torch::kFloat64);
  auto y = b.to(torch::kFloat32).to(torch::kFloat64);
  auto cos = (x * y).sum(1) / torch::sqrt((x * x).sum(1) * (y * y).sum(1));
  cos = torch::nan_to_num(cos, 0.0, 0.0, 0.0).to(torch::kFloat32).to(torch::kCPU).contiguous();
  const float* p = cos.data_ptr<float>();
  return std::vector<double>(p, p + cos.numel());
}

namespace {

constexpr double kPositiveGold = 4.0;  // SimCSE: STS-B pairs scored above 4 are positives
// Uniformity needs an N x N Gram matrix: bounded for large pair sets (STS-B dev has ~2,900
// distinct sentences, so it is computed on all of them).
constexpr int64_t kMaxUniformitySentences = 8192;

// Both sides of every pair in one embed() call (sorting all 2N sentences by length pads
// least): rows 0..N-1 are the first sentences, N..2N-1 the second.
torch::Tensor embed_both_sides(SentenceEmbedder& embedder, const data::StsPairSet& pairs) {
  std::vector<std::string> sentences = pairs.first;
  sentences.insert(sentences.end(), pairs.second.begin(), pairs.second.end());
  return embedder.embed(sentences);
}

std::vector<double> pair_cosines(const torch::Tensor& both_sides, int64_t n) {
  return cosine_scores(both_sides.narrow(0, 0, n), both_sides.narrow(0, n, n));
}

std::vector<double> pair_cosines(SentenceEmbedder& embedder, const data::StsPairSet& pairs) {
  return pair_cosines(embed_both_sides(embedder, pairs), pairs.size());
}

}  // namespace

StsScore score_pairs(SentenceEmbedder& embedder, const data::StsPairSet& pairs) {
  if (pairs.size() == 0) return {std::numeric_limits<double>::quiet_NaN(), 0};
  return {100.0 * spearman(pair_cosines(embedder, pairs), pairs.gold), pairs.size()};
}

StsScore evaluate_sts(model::SentenceEncoder& encoder, const data::WordPieceTokenizer& tokenizer,
                      const data::StsPairSet& pairs, model::Pooler pooler, int64_t max_len, int64_t batch_size,
                      torch::Device device, bool bf16) {
  EmbedOptions options;
  options.pooler = pooler;
  options.bf16 = bf16;
  options.max_len = max_len;
  options.batch_size = batch_size;
  SentenceEmbedder embedder(encoder, tokenizer, options, device);
  StsScore score;
  if (pairs.size() == 0) {
    score.spearman_x100 = std::numeric_limits<double>::quiet_NaN();
    return score;
  }
  const auto emb = embed_both_sides(embedder, pairs);
  const int64_t n = pairs.size();
  score.pairs = n;
  score.spearman_x100 = 100.0 * spearman(pair_cosines(emb, n), pairs.gold);

  std::vector<int64_t> positives, distinct;
  for (int64_t i = 0; i < n; ++i) {
    if (pairs.gold[i] > kPositiveGold) positives.push_back(i);
  }
  std::unordered_set<std::string_view> seen;
  for (int64_t i = 0; i < 2 * n && static_cast<int64_t>(distinct.size()) < kMaxUniformitySentences; ++i) {
    if (seen.insert(i < n ? pairs.first[i] : pairs.second[i - n]).second) distinct.push_back(i);
  }
  score.positive_pairs = static_cast<int64_t>(positives.size());
  if (!positives.empty()) {
    const auto idx = torch::tensor(positives, torch::kLong);
    score.alignment = embedding_alignment(emb.index_select(0, idx), emb.index_select(0, idx + n));
  }
  if (distinct.size() >= 2) score.uniformity = embedding_uniformity(emb.index_select(0, torch::tensor(distinct)));
  return score;
}

StsSuiteResult evaluate_sts_suite(SentenceEmbedder& embedder, const std::vector<data::LoadedStsTask>& tasks,
                                  bool include_train) {
  StsSuiteResult suite;
  for (const auto& task : tasks) {
    const auto& spec = *task.spec;
    StsTaskResult r;
    r.name = spec.name;
    r.short_name = spec.short_name;
    r.primary = spec.primary;
    r.missing = task.missing;
    const bool year = spec.kind == data::StsTaskKind::kYear;
    // Per-subset cosines are kept so a year's "all" number reuses them instead of re-embedding.
    std::vector<double> all_cos, all_gold;
    for (const auto& part : task.parts) {
      StsPartResult pr;
      pr.name = part.name;
      if (!part.pairs) {
        pr.note = "missing: " + part.missing;
      } else if (part.name == "train" && !include_train) {
        pr.note = "skipped (--include-train to score)";
        pr.pairs = part.pairs->size();
      } else {
        const auto& pairs = *part.pairs;
        LOG_INFO("scoring " << spec.name << " " << part.name << " (" << pairs.size() << " pairs)");
        const auto cos = pair_cosines(embedder, pairs);
        pr.scored = true;
        pr.pairs = pairs.size();
        pr.spearman_x100 = 100.0 * spearman(cos, pairs.gold);
        if (year) {
          all_cos.insert(all_cos.end(), cos.begin(), cos.end());
          all_gold.insert(all_gold.end(), pairs.gold.begin(), pairs.gold.end());
        }
        if (part.name == spec.primary) {
          r.scored = true;
          r.spearman_x100 = pr.spearman_x100;
          r.pairs = pr.pairs;
        }
      }
      r.parts.push_back(std::move(pr));
    }
    if (year && task.primary) {
      r.scored = true;
      r.pairs = static_cast<int64_t>(all_gold.size());
      r.spearman_x100 = 100.0 * spearman(all_cos, all_gold);
    }
    suite.tasks.push_back(std::move(r));
  }
  return suite;
}

}  // namespace simcsepp::evaluation
