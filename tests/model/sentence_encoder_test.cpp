// sentence_encoder_test.cpp - encoder behaviour that needs no Python oracle: dropout control,
// padding invariance, poolers, checkpoint load errors and the export/load round trip.
// (Numerical parity with transformers is tests/python/model_hf_parity.py.)
#include "model/sentence_encoder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "model/hf_checkpoint.h"
#include "model/safetensors_file.h"

namespace fs = std::filesystem;
using namespace simcsepp::model;

namespace {

BertConfig tiny_config() {
  BertConfig c;
  c.vocab_size = 50;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  c.max_position_embeddings = 16;
  return c;
}

struct Batch {
  torch::Tensor ids, mask;
};

// Two sentences of lengths 6 and 4 (second padded with 0).
Batch tiny_batch() {
  auto ids = torch::tensor({{2, 7, 9, 11, 4, 3}, {2, 8, 5, 3, 0, 0}}, torch::kLong);
  auto mask = torch::tensor({{1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0}}, torch::kLong);
  return {ids, mask};
}

// A fresh directory per call (unique by pid and a per-run counter; fs::remove_all is avoided since
// libtorch.so exports a copy of it that crashes).
fs::path temp_dir(const std::string& name) {
  static int counter = 0;
  auto dir = fs::temp_directory_path() /
             ("simcsepp_model_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++)) / name;
  fs::create_directories(dir);
  return dir;
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// A HF-style directory (BertModel keys, no prefix) for `encoder`.
fs::path save_hf_dir(SentenceEncoder& encoder, const std::string& name,
                     const std::function<void(std::vector<std::pair<std::string, at::Tensor>>&)>& edit = {}) {
  const auto dir = temp_dir(name);
  write_text(dir / "config.json", encoder->config().to_json().dump());
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& item : encoder->bert->named_parameters()) tensors.emplace_back(item.key(), item.value());
  if (edit) edit(tensors);
  write_safetensors((dir / "model.safetensors").string(), tensors);
  return dir;
}

}  // namespace

TEST(SentenceEncoder, ParameterNamesFollowHuggingFace) {
  SentenceEncoder encoder(tiny_config());
  const auto params = encoder->named_parameters();
  for (const char* name :
       {"bert.embeddings.word_embeddings.weight", "bert.embeddings.LayerNorm.bias",
        "bert.encoder.layer.1.attention.self.query.weight", "bert.encoder.layer.0.attention.output.LayerNorm.weight",
        "bert.encoder.layer.0.intermediate.dense.weight", "bert.encoder.layer.1.output.dense.bias",
        "mlp.dense.weight"}) {
    EXPECT_TRUE(params.contains(name)) << name;
  }
  // 5 embedding tensors + 16 per layer + 2 MLP.
  EXPECT_EQ(params.size(), 5u + 16u * 2 + 2u);
}

TEST(SentenceEncoder, OffDropoutCallEqualsEvalAndLeavesTrainingOn) {
  torch::manual_seed(1);
  SentenceEncoder encoder(tiny_config());
  const auto b = tiny_batch();
  encoder->eval();
  const auto eval_out = encoder->forward(b.ids, b.mask, Pooler::kCls);
  encoder->train();
  const auto off = encoder->forward(b.ids, b.mask, Pooler::kCls, /*dropout_on=*/false);
  EXPECT_TRUE(torch::allclose(off, eval_out, 0, 1e-6));
  EXPECT_TRUE(encoder->is_training());
  const auto on = encoder->forward(b.ids, b.mask, Pooler::kCls);
  EXPECT_GT((on - eval_out).abs().max().item<float>(), 1e-3);  // dropout really is on again
}

TEST(SentenceEncoder, DropoutMasksFollowTheDefaultGenerator) {
  torch::manual_seed(2);
  SentenceEncoder encoder(tiny_config());
  encoder->train();
  const auto b = tiny_batch();
  torch::manual_seed(7);
  const auto first = encoder->forward(b.ids, b.mask, Pooler::kClsBeforePooler);
  const auto other = encoder->forward(b.ids, b.mask, Pooler::kClsBeforePooler);
  torch::manual_seed(7);
  const auto again = encoder->forward(b.ids, b.mask, Pooler::kClsBeforePooler);
  EXPECT_TRUE(torch::equal(first, again));
  EXPECT_FALSE(torch::equal(first, other));
}

// Float64: the padded batch and the lone sentence run attention and matmuls of other shapes,
// so in float32 they agree only to rounding that depends on the CPU's kernels; in float64 that
// rounding is ~1e-15 and a masking error (a padded key attended) is >= 1e-2.
TEST(SentenceEncoder, PaddingDoesNotChangeTokensOrPooledEmbeddings) {
  torch::manual_seed(3);
  SentenceEncoder encoder(tiny_config());
  encoder->to(torch::kDouble);
  encoder->eval();
  const auto b = tiny_batch();
  // Sentence 2 alone, unpadded, against its padded row in the batch.
  const auto ids = b.ids.slice(0, 1, 2).slice(1, 0, 4);
  const auto mask = b.mask.slice(0, 1, 2).slice(1, 0, 4);
  torch::NoGradGuard no_grad;
  const auto alone = encoder->last_hidden_state(ids, mask);
  const auto batched = encoder->last_hidden_state(b.ids, b.mask).slice(0, 1, 2).slice(1, 0, 4);
  EXPECT_TRUE(torch::allclose(alone, batched, 0, 1e-12));
  for (auto p : {Pooler::kCls, Pooler::kClsBeforePooler, Pooler::kAvg, Pooler::kAvgFirstLast}) {
    const auto a = encoder->forward(ids, mask, p);
    const auto c = encoder->forward(b.ids, b.mask, p).slice(0, 1, 2);
    EXPECT_TRUE(torch::allclose(a, c, 0, 1e-12)) << pooler_name(p);
    EXPECT_EQ(a.scalar_type(), torch::kDouble);  // at_least_fp32 keeps a float64 model's precision
  }
  // avg is the masked mean of the last layer.
  const auto hidden = encoder->last_hidden_state(b.ids, b.mask);
  EXPECT_TRUE(
      torch::allclose(encoder->forward(b.ids, b.mask, Pooler::kAvg)[1], hidden[1].slice(0, 0, 4).mean(0), 0, 1e-12));
}

TEST(SentenceEncoder, GradientsReachEveryParameterThroughTheMlp) {
  torch::manual_seed(4);
  SentenceEncoder encoder(tiny_config());
  const auto b = tiny_batch();
  encoder->forward(b.ids, b.mask, Pooler::kCls).sum().backward();
  for (const auto& item : encoder->named_parameters()) {
    if (item.key() == "bert.embeddings.token_type_embeddings.weight") continue;  // only row 0 is used
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
  }
}

TEST(HfCheckpoint, LoadsBertModelLayoutAndInitialisesTheMlpFromItsSeed) {
  torch::manual_seed(5);
  SentenceEncoder original(tiny_config());
  const auto dir = save_hf_dir(original, "plain", [](auto& tensors) {
    tensors.emplace_back("pooler.dense.weight", torch::zeros({32, 32}));  // pretrained NSP pooler: unused
    tensors.emplace_back("pooler.dense.bias", torch::zeros({32}));
  });
  LoadReport report;
  auto loaded = load_hf_model(dir.string(), &report);
  EXPECT_EQ(report.missing, (std::vector<std::string>{"mlp.dense.weight", "mlp.dense.bias"}));
  EXPECT_EQ(report.unexpected, (std::vector<std::string>{"pooler.dense.bias", "pooler.dense.weight"}));
  const auto b = tiny_batch();
  original->eval();
  loaded->eval();
  EXPECT_TRUE(torch::equal(original->last_hidden_state(b.ids, b.mask), loaded->last_hidden_state(b.ids, b.mask)));
  // Seeded head: two loads agree.
  auto again = load_hf_model(dir.string());
  EXPECT_TRUE(torch::equal(loaded->mlp->dense->weight, again->mlp->dense->weight));
}

TEST(HfCheckpoint, LoadErrorsNameTheTensor) {
  torch::manual_seed(6);
  SentenceEncoder encoder(tiny_config());
  auto expect_error = [](const fs::path& dir, const std::string& needle) {
    try {
      load_hf_model(dir.string());
      ADD_FAILURE() << "no error for " << needle;
    } catch (const simcsepp::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(save_hf_dir(encoder, "missing",
                           [](auto& t) {
                             std::erase_if(t, [](auto& p) { return p.first == "encoder.layer.1.output.dense.bias"; });
                           }),
               "bert.encoder.layer.1.output.dense.bias");
  expect_error(save_hf_dir(encoder, "shape",
                           [](auto& t) {
                             for (auto& p : t)
                               if (p.first == "embeddings.word_embeddings.weight") p.second = torch::zeros({49, 32});
                           }),
               "tensor 'embeddings.word_embeddings.weight'");
  expect_error(save_hf_dir(encoder, "dtype",
                           [](auto& t) {
                             for (auto& p : t)
                               if (p.first == "embeddings.LayerNorm.bias") p.second = torch::zeros({32}, torch::kLong);
                           }),
               "not a float type");
  expect_error(save_hf_dir(encoder, "duplicate",
                           [](auto& t) { t.emplace_back("bert.embeddings.LayerNorm.bias", torch::zeros({32})); }),
               "also present");
  const auto empty = temp_dir("empty");
  write_text(empty / "config.json", "{}");
  expect_error(empty, "no model.safetensors");
}

TEST(HfCheckpoint, ExportThenLoadReproducesEveryPooler) {
  torch::manual_seed(8);
  SentenceEncoder encoder(tiny_config());
  const auto dir = temp_dir("export");
  std::string vocab;
  for (int i = 0; i < 50; ++i) vocab += "tok" + std::to_string(i) + "\n";
  write_text(dir / "vocab_source.txt", vocab);
  export_hf_model(encoder, (dir / "vocab_source.txt").string(), Pooler::kCls, (dir / "out").string());
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
                        "special_tokens_map.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json",
                        "2_Dense/config.json", "2_Dense/model.safetensors"}) {
    EXPECT_TRUE(fs::exists(dir / "out" / f)) << f;
  }
  LoadReport report;
  auto loaded = load_hf_model((dir / "out").string(), &report);
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.unexpected.empty());
  encoder->eval();
  loaded->eval();
  const auto b = tiny_batch();
  for (auto p : {Pooler::kCls, Pooler::kClsBeforePooler, Pooler::kAvg, Pooler::kAvgFirstLast}) {
    EXPECT_TRUE(torch::equal(encoder->forward(b.ids, b.mask, p), loaded->forward(b.ids, b.mask, p))) << pooler_name(p);
  }
  // Re-export with another pooler drops the Dense head of the earlier export.
  export_hf_model(loaded, (dir / "out" / "vocab.txt").string(), Pooler::kAvg, (dir / "out").string());
  EXPECT_FALSE(fs::exists(dir / "out" / "2_Dense"));
  EXPECT_THROW(
      export_hf_model(loaded, (dir / "vocab_source.txt").string(), Pooler::kAvgFirstLast, (dir / "bad").string()),
      simcsepp::Error);
}

TEST(HfCheckpoint, SavedSimcseppWeightsReloadWithTheirMlpHead) {
  torch::manual_seed(9);
  SentenceEncoder encoder(tiny_config());
  const auto dir = temp_dir("weights");
  write_text(dir / "config.json", encoder->config().to_json().dump());
  save_sentence_encoder_weights(encoder, (dir / "model.safetensors").string());
  LoadReport report;
  auto loaded = load_hf_model(dir.string(), &report);
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.unexpected.empty());
  encoder->eval();
  loaded->eval();
  const auto b = tiny_batch();
  EXPECT_TRUE(
      torch::equal(encoder->forward(b.ids, b.mask, Pooler::kCls), loaded->forward(b.ids, b.mask, Pooler::kCls)));
}
