// eval_precision_test.cpp - the precision of training and of the in-training STS-B evaluation:
// by default a GPU trains in bf16 but evaluates (and so picks the best checkpoint) in fp32, as
// `simcsepp eval` scores; --precision fp32 trains in fp32 on a GPU; --eval-precision bf16 is
// the opt-in. Evaluation precision is the evaluation's own option: a bf16 training step leaves
// nothing behind that changes it. bf16 here is CPU autocast (the same code as on CUDA).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

#include "base/error.h"
#include "cluster/single_process_communicator.h"
#include "evaluation/sentence_embedder.h"
#include "evaluation/sts_evaluation.h"
#include "trainer/train_step.h"
#include "trainer/train_options.h"

namespace simcsepp::trainer {
using evaluation::EmbedOptions;
using evaluation::SentenceEmbedder;
namespace {

TrainOptions options(const std::string& precision, const std::string& eval_precision) {
  TrainOptions o;
  o.model_dir = "model";
  o.corpus_dir = "corpus";
  o.run_dir = "run";
  o.precision = precision;
  o.eval_precision = eval_precision;
  return o;
}

TEST(EvalPrecision, DefaultsTrainBf16OnAGpuAndEvaluateInFp32) {
  const TrainOptions defaults;
  EXPECT_EQ(defaults.precision, "auto");
  EXPECT_EQ(defaults.eval_precision, "fp32");
  const auto gpu = resolve_precisions(defaults, /*cuda_device=*/true);
  EXPECT_TRUE(gpu.train_bf16);
  EXPECT_FALSE(gpu.eval_bf16);
  const auto cpu = resolve_precisions(defaults, false);
  EXPECT_FALSE(cpu.train_bf16);
  EXPECT_FALSE(cpu.eval_bf16);
}

TEST(EvalPrecision, OptionsSelectEachPrecision) {
  EXPECT_FALSE(resolve_precisions(options("fp32", "fp32"), true).train_bf16);  // fp32 on a GPU: debugging
  EXPECT_TRUE(resolve_precisions(options("bf16", "fp32"), false).train_bf16);
  EXPECT_TRUE(resolve_precisions(options("auto", "bf16"), true).eval_bf16);
  EXPECT_FALSE(resolve_precisions(options("bf16", "fp32"), true).eval_bf16);
  EXPECT_NO_THROW(options("fp32", "bf16").validate());
}

TEST(EvalPrecision, UnknownPrecisionsNameTheirOption) {
  try {
    options("fp16", "fp32").validate();
    FAIL() << "fp16 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "--precision");
    EXPECT_FALSE(e.hint().empty());
  }
  try {
    options("auto", "auto").validate();
    FAIL() << "eval precision auto accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "--eval-precision");
  }
}

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

data::StsPairSet pairs() {
  data::StsPairSet s;
  s.first = {"a man is playing a guitar .",  "a woman slices an onion", "the cat sat on the mat",
             "two dogs run through a field", "stocks fell sharply",     "a child rides a red bike"};
  s.second = {"a man plays the guitar .", "someone is cutting onions", "a dog barks", "dogs running",
              "the market dropped",       "a kid is riding a bicycle"};
  s.gold = {4.8, 3.9, 0.5, 2.5, 4.0, 4.6};
  return s;
}

data::TokenBatch token_batch(int64_t rows, int64_t len) {
  data::TokenBatch b;
  b.rows = rows;
  b.max_len = len;
  auto ids = torch::randint(1000, 2000, {rows * len}, torch::kLong);
  b.input_ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
  b.attention_mask.assign(rows * len, 1);
  return b;
}

TEST(EvalPrecision, EvaluationAfterBf16TrainingIsFp32UnlessAskedForBf16) {
  torch::manual_seed(3);
  model::SentenceEncoder enc(tiny_config());
  const auto dev = pairs();
  EmbedOptions fp32;
  fp32.max_len = 64;
  // The reference before any training precision was ever set.
  const auto before = SentenceEmbedder(enc, shared_tokenizer(), fp32, torch::kCPU).embed(dev.first);

  cluster::SingleProcessCommunicator comm;
  TrainStepConfig sc;
  sc.objective = model::parse_objective("simcse++");
  sc.mixed_precision = true;  // a bf16 training step (CPU autocast)
  sc.adamw.lr = 0.0;          // no update: the weights stay those of the reference
  TrainStep step(enc, sc, comm);
  step.step({{token_batch(4, 8)}});

  const auto after = SentenceEmbedder(enc, shared_tokenizer(), fp32, torch::kCPU).embed(dev.first);
  EXPECT_TRUE(torch::equal(after, before)) << "a bf16 step changed the default (fp32) evaluation";
  EmbedOptions bf16 = fp32;
  bf16.bf16 = true;
  const auto low = SentenceEmbedder(enc, shared_tokenizer(), bf16, torch::kCPU).embed(dev.first);
  EXPECT_EQ(low.scalar_type(), torch::kFloat32);
  EXPECT_FALSE(torch::allclose(low, before, 1e-4, 1e-4)) << "bf16 evaluation did not run under autocast";
  EXPECT_TRUE(torch::allclose(low, before, 0.1, 0.1));

  // evaluate_sts, as the trainer calls it: fp32 unless told otherwise.
  const auto score_default =
      evaluation::evaluate_sts(enc, shared_tokenizer(), dev, model::Pooler::kClsBeforePooler, 64, 4, torch::kCPU);
  const auto score_fp32 =
      evaluation::evaluate_sts(enc, shared_tokenizer(), dev, model::Pooler::kClsBeforePooler, 64, 4, torch::kCPU, false);
  const auto score_bf16 =
      evaluation::evaluate_sts(enc, shared_tokenizer(), dev, model::Pooler::kClsBeforePooler, 64, 4, torch::kCPU, true);
  EXPECT_EQ(score_default.alignment, score_fp32.alignment);
  EXPECT_EQ(score_default.uniformity, score_fp32.uniformity);
  EXPECT_NE(score_bf16.uniformity, score_fp32.uniformity);
}

}  // namespace
}  // namespace simcsepp::trainer
