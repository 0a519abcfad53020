// sentence_embedder.cpp - batched, length-sorted sentence embedding (see sentence_embedder.h).
#include "evaluation/sentence_embedder.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string_view>
#include <unordered_map>

#include "base/error.h"
#include "base/log.h"
#include "data/token_batch.h"
#include "model/attention_backend.h"
#include "model/autocast_scope.h"
#include "model/hf_checkpoint.h"

namespace simcsepp::evaluation {

namespace {

// Puts the module back in the mode it had, however the scope is left.
class TrainModeRestorer {
 public:
  explicit TrainModeRestorer(torch::nn::Module& module) : module_(module), was_training_(module.is_training()) {}
  ~TrainModeRestorer() { module_.train(was_training_); }
  TrainModeRestorer(const TrainModeRestorer&) = delete;
  TrainModeRestorer& operator=(const TrainModeRestorer&) = delete;

 private:
  torch::nn::Module& module_;
  bool was_training_;
};

}  // namespace

int64_t default_eval_max_len(const model::BertConfig& config) {
  return std::min<int64_t>(512, config.max_position_embeddings);
}

torch::Device parse_device(const std::string& name, const std::string& option) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::kCPU;
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw Error("device '" + name + "' requested but no CUDA device is available", option,
                  "use --device cpu (or auto), or run on a GPU node with a CUDA build");
    }
    try {
      torch::Device d(name);
      if (d.has_index() && d.index() >= static_cast<int>(torch::cuda::device_count())) {
        throw Error(
            "device '" + name + "' does not exist (" + std::to_string(torch::cuda::device_count()) + " CUDA device(s))",
            option, "pick an index below the device count");
      }
      return d;
    } catch (const c10::Error&) {
      // fall through to the generic message
    }
  }
  throw Error("unknown device '" + name + "'", option, "use auto, cpu, cuda or cuda:N");
}

InferenceModel load_inference_model(const std::string& model_dir, torch::Device device) {
  model::select_attention_backend(model::AttentionBackend::kAuto, device);  // as training evaluates
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  const fs::path vocab = dir / "vocab.txt";
  if (!fs::exists(vocab)) {
    throw Error("the model directory has no vocab.txt", model_dir,
                "pass a simcsepp export or a Hugging Face BERT directory (config.json, weights, vocab.txt)");
  }
  bool lowercase = true;
  if (const fs::path tok_config = dir / "tokenizer_config.json"; fs::exists(tok_config)) {
    std::ifstream in(tok_config);
    try {
      lowercase = nlohmann::json::parse(in).value("do_lower_case", true);
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("invalid JSON: ") + e.what(), tok_config.string(), "fix or delete the file");
    }
  }
  model::LoadReport report;
  InferenceModel m{model::load_hf_model(model_dir, &report),
                   data::WordPieceTokenizer::from_vocab_file(vocab.string(), lowercase)};
  if (m.tokenizer.vocab_size() > m.encoder->config().vocab_size) {
    throw Error("vocab.txt has " + std::to_string(m.tokenizer.vocab_size()) +
                    " tokens but config.json says vocab_size " + std::to_string(m.encoder->config().vocab_size),
                vocab.string(), "the tokenizer and the weights must come from the same model");
  }
  LOG_INFO("loaded " << (report.weights_file.empty() ? model_dir : report.weights_file) << " ("
                     << report.unexpected.size() << " unused tensors), lowercase=" << (lowercase ? "yes" : "no"));
  if (!report.missing.empty()) {
    LOG_WARN(report.missing.size() << " parameter(s) not in the checkpoint were initialised (first: "
                                   << report.missing[0] << "); the 'cls' pooler would use a random MLP head");
  }
  m.encoder->to(device);
  m.encoder->eval();
  return m;
}

SentenceEmbedder::SentenceEmbedder(model::SentenceEncoder& encoder, const data::WordPieceTokenizer& tokenizer,
                                   EmbedOptions options, torch::Device device)
    : encoder_(encoder), tokenizer_(tokenizer), options_(options), device_(device) {
  if (options_.batch_size < 1) {
    throw Error("batch size must be at least 1, got " + std::to_string(options_.batch_size), "--batch-size",
                "use e.g. 128");
  }
  const int64_t positions = encoder_->config().max_position_embeddings;
  if (options_.max_len < 2 || options_.max_len > positions) {
    throw Error("max length " + std::to_string(options_.max_len) + " is outside [2, " + std::to_string(positions) +
                    "] (the model's max_position_embeddings)",
                "--max-len", "leave --max-len at 0 to use the model's limit (capped at 512)");
  }
}

int64_t SentenceEmbedder::hidden_size() const { return encoder_->config().hidden_size; }

torch::Tensor SentenceEmbedder::embed(const std::vector<std::string>& sentences) {
  // Each distinct sentence is encoded once: faster (STS sets repeat sentences; SMT subsets pair
  // many sentences with themselves), and a repeated sentence gets bit-identical embeddings
  // whatever batch it would have landed in, so identical pairs tie exactly at cosine 1.
  std::unordered_map<std::string_view, int64_t> first_index;
  std::vector<std::string> distinct;
  std::vector<int64_t> inverse(sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    const auto [it, inserted] = first_index.emplace(sentences[i], static_cast<int64_t>(distinct.size()));
    if (inserted) distinct.push_back(sentences[i]);
    inverse[i] = it->second;
  }
  if (distinct.size() == sentences.size()) return embed_distinct(sentences);
  const auto index = torch::from_blob(inverse.data(), {static_cast<int64_t>(inverse.size())}, torch::kInt64);
  return embed_distinct(distinct).index_select(0, index);
}

torch::Tensor SentenceEmbedder::embed_distinct(const std::vector<std::string>& sentences) {
  const int64_t n = static_cast<int64_t>(sentences.size());
  const int64_t hidden = hidden_size();
  auto result = torch::empty({n, hidden}, torch::kFloat32);
  if (n == 0) return result;

  std::vector<std::vector<int32_t>> ids(sentences.size());
  int64_t cut = 0;
  for (size_t i = 0; i < sentences.size(); ++i) {
    bool truncated = false;
    int64_t invalid = 0;
    ids[i] = tokenizer_.encode(sentences[i], static_cast<int>(options_.max_len), &truncated, &invalid);
    cut += truncated ? 1 : 0;
  }
  if (cut > 0) {
    LOG_WARN(cut << " of " << n << " sentences are longer than " << options_.max_len << " tokens and were truncated");
  }
  truncated_ += cut;

  // Longest first: the first batch shows at once whether the longest inputs fit in memory.
  std::vector<int64_t> order(sentences.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ids[a].size() > ids[b].size(); });

  TrainModeRestorer restore(*encoder_);
  encoder_->eval();
  torch::NoGradGuard no_grad;
  // One region for all batches: each weight is cast to bf16 once per embed() call.
  model::AutocastScope autocast(device_.type(), options_.bf16);
  std::vector<std::vector<int32_t>> chunk;
  for (int64_t start = 0; start < n; start += options_.batch_size) {
    const int64_t end = std::min(n, start + options_.batch_size);
    chunk.clear();
    for (int64_t k = start; k < end; ++k) chunk.push_back(std::move(ids[order[k]]));
    const int64_t longest = static_cast<int64_t>(chunk.front().size());
    auto batch = data::pad_batch(chunk, longest, tokenizer_.pad_id());
    const auto opts = torch::TensorOptions().dtype(torch::kInt64);
    auto input_ids = torch::from_blob(batch.input_ids.data(), {batch.rows, longest}, opts).to(device_);
    auto mask = torch::from_blob(batch.attention_mask.data(), {batch.rows, longest}, opts).to(device_);
    auto emb = encoder_->forward(input_ids, mask, options_.pooler, /*dropout_on=*/false).to(torch::kFloat32);
    if (options_.normalize)
      emb = torch::nn::functional::normalize(emb, torch::nn::functional::NormalizeFuncOptions().dim(1));
    auto rows = torch::from_blob(order.data() + start, {end - start}, opts);
    result.index_copy_(0, rows, emb.to(torch::kCPU));
  }
  return result;
}

}  // namespace simcsepp::evaluation
