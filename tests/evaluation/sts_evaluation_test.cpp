// sts_evaluation_test.cpp - STS scoring with a small random encoder: batching/sorting does not
// change embeddings, the encoder's train/eval mode is restored, cosine is SentEval's, the report
// marks missing tasks as missing and averages only a complete suite.
#include "evaluation/sts_evaluation.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>

#include "base/error.h"
#include "data/token_batch.h"
#include "evaluation/embedding_geometry.h"
#include "evaluation/spearman.h"
#include "evaluation/sts_report.h"

namespace simcsepp::evaluation {
namespace {

model::BertConfig tiny_config() {
  model::BertConfig c;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  c.max_position_embeddings = 64;
  return c;
}

const data::WordPieceTokenizer& shared_tokenizer() {
  static const auto tok = [] {
    const char* env = std::getenv("SIMCSEPP_SHARED_DATA");
    if (env == nullptr) throw std::runtime_error("SIMCSEPP_SHARED_DATA not set (ctest sets it)");
    return data::WordPieceTokenizer::from_vocab_file(std::string(env) + "/vocab/bert-base-uncased-vocab.txt");
  }();
  return tok;
}

data::StsPairSet small_pairs() {
  data::StsPairSet s;
  s.first = {"a man is playing a guitar .", "a woman slices an onion", "the cat sat on the mat",
             "two dogs run through a very long field of tall green grass near the river", "stocks fell sharply"};
  s.second = {"a man plays the guitar .", "someone is cutting onions", "a dog barks", "dogs running",
              "the market dropped"};
  s.gold = {4.8, 3.9, 0.5, 2.5, 4.0};
  return s;
}

// Float64 model: batches of other sizes and padding run other kernel shapes, so in float32 the
// rows would agree only to CPU-dependent rounding. In float64 they agree to ~1e-15, and the
// embedder's float32 output then differs by at most one float32 rounding (<= 1.2e-7 relative):
// the 1e-6 bound is CPU-independent, and a padding or ordering error is >= 1e-2.
TEST(StsEvaluation, BatchedSortedEmbeddingsEqualOneByOne) {
  torch::manual_seed(7);
  model::SentenceEncoder encoder(tiny_config());
  encoder->to(torch::kDouble);
  const auto pairs = small_pairs();
  EmbedOptions opts;
  opts.max_len = 64;
  opts.batch_size = 3;  // uneven batches, different padding per batch
  SentenceEmbedder embedder(encoder, shared_tokenizer(), opts, torch::kCPU);
  const auto batched = embedder.embed(pairs.first);
  ASSERT_EQ(batched.sizes(), (std::vector<int64_t>{5, 32}));
  // Reference: each sentence alone, no padding at all.
  torch::NoGradGuard ng;
  encoder->eval();
  for (size_t i = 0; i < pairs.first.size(); ++i) {
    auto ids = shared_tokenizer().encode(pairs.first[i], 64);
    std::vector<int64_t> ids64(ids.begin(), ids.end());
    auto t = torch::tensor(ids64).unsqueeze(0);
    auto one = encoder->forward(t, torch::ones_like(t), model::Pooler::kClsBeforePooler, false);
    EXPECT_TRUE(torch::allclose(batched[static_cast<int64_t>(i)], one[0].to(torch::kFloat32), 1e-6, 1e-6))
        << "row " << i;
  }
}

TEST(StsEvaluation, RestoresTrainAndEvalMode) {
  torch::manual_seed(1);
  model::SentenceEncoder encoder(tiny_config());
  const auto pairs = small_pairs();
  encoder->train();
  const auto a = evaluate_sts(encoder, shared_tokenizer(), pairs, model::Pooler::kAvg, 64, 4, torch::kCPU);
  EXPECT_TRUE(encoder->is_training());
  encoder->eval();
  const auto b = evaluate_sts(encoder, shared_tokenizer(), pairs, model::Pooler::kAvg, 64, 4, torch::kCPU);
  EXPECT_FALSE(encoder->is_training());
  // Dropout is off in both calls, so the scores agree exactly.
  EXPECT_EQ(a.pairs, 5);
  EXPECT_DOUBLE_EQ(a.spearman_x100, b.spearman_x100);
}

// Float64 model for the same reason as above: the two sides embed in batches of other sizes.
TEST(StsEvaluation, AlignmentOverPositivesUniformityOverDistinctSentences) {
  torch::manual_seed(5);
  model::SentenceEncoder encoder(tiny_config());
  encoder->to(torch::kDouble);
  auto pairs = small_pairs();
  pairs.first.push_back(pairs.first[0]);  // a repeated sentence counts once for uniformity
  pairs.second.push_back("a guitar is being played");
  pairs.gold.push_back(4.2);
  const auto score = evaluate_sts(encoder, shared_tokenizer(), pairs, model::Pooler::kAvg, 64, 4, torch::kCPU);
  EmbedOptions opts;
  opts.max_len = 64;
  opts.pooler = model::Pooler::kAvg;
  SentenceEmbedder embedder(encoder, shared_tokenizer(), opts, torch::kCPU);
  // Positives: gold > 4 -> pairs 0 (4.8) and 5 (4.2); pair 4 (exactly 4.0) is not one.
  EXPECT_EQ(score.positive_pairs, 2);
  const auto a = embedder.embed({pairs.first[0], pairs.first[5]});
  const auto b = embedder.embed({pairs.second[0], pairs.second[5]});
  EXPECT_NEAR(score.alignment, embedding_alignment(a, b), 1e-6);
  std::vector<std::string> distinct(pairs.first.begin(), pairs.first.end() - 1);
  distinct.insert(distinct.end(), pairs.second.begin(), pairs.second.end());
  EXPECT_NEAR(score.uniformity, embedding_uniformity(embedder.embed(distinct)), 1e-6);
  EXPECT_LT(score.uniformity, 0.0);
}

TEST(StsEvaluation, ScoreIsSpearmanOfCosines) {
  torch::manual_seed(3);
  model::SentenceEncoder encoder(tiny_config());
  const auto pairs = small_pairs();
  EmbedOptions opts;
  opts.max_len = 64;
  SentenceEmbedder embedder(encoder, shared_tokenizer(), opts, torch::kCPU);
  const auto score = score_pairs(embedder, pairs);
  const auto e1 = embedder.embed(pairs.first), e2 = embedder.embed(pairs.second);
  std::vector<double> cos;
  for (int64_t i = 0; i < 5; ++i) {
    cos.push_back(torch::cosine_similarity(e1[i], e2[i], 0).item<double>());
  }
  EXPECT_NEAR(score.spearman_x100, 100 * spearman(cos, pairs.gold), 1e-9);
}

TEST(StsEvaluation, RepeatedSentencesGetIdenticalRowsAndTieAtOne) {
  torch::manual_seed(9);
  model::SentenceEncoder encoder(tiny_config());
  EmbedOptions opts;
  opts.max_len = 64;
  opts.batch_size = 2;  // the two copies of "same words" would otherwise land in different batches
  SentenceEmbedder embedder(encoder, shared_tokenizer(), opts, torch::kCPU);
  const auto e = embedder.embed({"same words", "a much longer sentence than the others", "x", "same words"});
  ASSERT_EQ(e.size(0), 4);
  EXPECT_TRUE(torch::equal(e[0], e[3]));
  const auto c = cosine_scores(e.narrow(0, 0, 2), e.narrow(0, 3, 1).expand({2, e.size(1)}));
  EXPECT_EQ(c[0], 1.0);  // exactly: ties between identical pairs are never split by rounding
}

TEST(StsEvaluation, CosineOfZeroVectorIsZero) {
  auto a = torch::tensor({{1.0f, 0.0f}, {0.0f, 0.0f}, {3.0f, 4.0f}});
  auto b = torch::tensor({{2.0f, 0.0f}, {1.0f, 1.0f}, {-3.0f, -4.0f}});
  const auto c = cosine_scores(a, b);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_FLOAT_EQ(c[0], 1.0f);
  EXPECT_FLOAT_EQ(c[1], 0.0f);
  EXPECT_FLOAT_EQ(c[2], -1.0f);
}

TEST(StsEvaluation, NormalizedEmbeddingsHaveUnitNorm) {
  torch::manual_seed(5);
  model::SentenceEncoder encoder(tiny_config());
  EmbedOptions opts;
  opts.max_len = 64;
  opts.normalize = true;
  SentenceEmbedder embedder(encoder, shared_tokenizer(), opts, torch::kCPU);
  const auto e = embedder.embed({"one", "two sentences here", ""});
  EXPECT_TRUE(torch::allclose(e.norm(2, 1), torch::ones({3}), 1e-5, 1e-5));
}

TEST(StsEvaluation, RejectsMaxLenBeyondModelPositions) {
  model::SentenceEncoder encoder(tiny_config());
  EmbedOptions opts;
  opts.max_len = 65;
  EXPECT_THROW({ SentenceEmbedder e(encoder, shared_tokenizer(), opts, torch::kCPU); }, Error);
}

TEST(StsReport, MissingTasksAreNotZeroAndAverageNeedsAllSeven) {
  StsSuiteResult r;
  StsTaskResult sts12{"STS12", "STS12", "all", true, "", 61.234, 3108, {{"MSRpar", true, "", 40.0, 750}}};
  StsTaskResult sickr{"SICKRelatedness",
                      "SICK-R",
                      "test",
                      false,
                      "test split missing (file X not found)",
                      0,
                      0,
                      {{"trial", true, "", 55.5, 500}, {"test", false, "missing: file X not found", 0, 0}}};
  r.tasks = {sts12, sickr};
  const auto table = format_sts_table(r);
  EXPECT_NE(table.find("61.23"), std::string::npos) << table;
  EXPECT_NE(table.find("MISSING"), std::string::npos) << table;
  EXPECT_NE(table.find("1 of 7"), std::string::npos) << table;
  const auto j = sts_result_to_json(r, {{"pooler", "avg"}});
  EXPECT_TRUE(j["average"].is_null());
  EXPECT_DOUBLE_EQ(j["average_of_scored"].get<double>(), 61.234);
  EXPECT_FALSE(j["tasks"]["SICKRelatedness"].contains("spearman_x100"));
  EXPECT_EQ(j["missing_tasks"], nlohmann::json::array({"SICKRelatedness"}));
  EXPECT_DOUBLE_EQ(j["tasks"]["SICKRelatedness"]["parts"]["trial"]["spearman_x100"].get<double>(), 55.5);

  // Seven scored tasks: the average is the plain mean.
  r.tasks.clear();
  for (int i = 0; i < 7; ++i) r.tasks.push_back({"T" + std::to_string(i), "T", "all", true, "", 10.0 * i, 1, {}});
  EXPECT_TRUE(r.complete());
  EXPECT_DOUBLE_EQ(sts_result_to_json(r, {})["average"].get<double>(), 30.0);
}

}  // namespace
}  // namespace simcsepp::evaluation
