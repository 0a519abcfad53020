// mlm_generator.cpp - see mlm_generator.h.
#include "model/mlm_generator.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "base/error.h"
#include "base/log.h"
#include "model/linear.h"
#include "model/safetensors_file.h"

namespace simcsepp::model {

namespace fs = std::filesystem;

MlmGeneratorImpl::MlmGeneratorImpl(const BertConfig& config, std::string architecture)
    : architecture_(std::move(architecture)) {
  bert = register_module("bert", BertModel(config));
  transform = register_module("transform", torch::nn::Linear(config.hidden_size, config.hidden_size));
  transform_norm = register_module(
      "transform_norm",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps)));
  output_bias = register_parameter("output_bias", torch::zeros({config.vocab_size}));
}

torch::Tensor MlmGeneratorImpl::logits(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                       bool dropout) {
  const auto hidden = bert->forward(input_ids, attention_mask, dropout).last_hidden_state;
  const auto h = transform_norm(torch::gelu(apply_linear(transform, hidden)));
  // The decoder is the word-embedding matrix (tied in both transformers models).
  const auto logits = torch::nn::functional::linear(h, bert->embeddings->word_embeddings->weight, output_bias);
  return logits.scalar_type() == torch::kDouble ? logits : logits.to(torch::kFloat);
}

torch::Tensor MlmGeneratorImpl::fill(const torch::Tensor& masked_ids, const torch::Tensor& attention_mask,
                                     bool dropout) {
  torch::NoGradGuard no_grad;
  return logits(masked_ids, attention_mask, dropout).argmax(-1);
}

namespace {

nlohmann::json read_config(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read the generator's config.json", path.string(), "pass a Hugging Face model directory");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("config.json is not JSON: ") + e.what(), path.string(), "");
  }
}

// DistilBERT's config keys in BERT's spelling (BertConfig validates them).
nlohmann::json bert_config_of_distilbert(const nlohmann::json& d, const std::string& where) {
  const auto need = [&](const char* key) {
    if (!d.contains(key)) throw Error(std::string("key '") + key + "' is missing", where, "is this a DistilBERT config?");
    return d.at(key);
  };
  return {{"vocab_size", need("vocab_size")},
          {"hidden_size", need("dim")},
          {"num_hidden_layers", need("n_layers")},
          {"num_attention_heads", need("n_heads")},
          {"intermediate_size", need("hidden_dim")},
          {"max_position_embeddings", need("max_position_embeddings")},
          {"type_vocab_size", 1},
          {"pad_token_id", d.value("pad_token_id", 0)},
          {"layer_norm_eps", 1e-12},  // DistilBERT's LayerNorms all use 1e-12
          {"hidden_dropout_prob", d.value("dropout", 0.1)},
          {"attention_probs_dropout_prob", d.value("attention_dropout", 0.1)},
          {"hidden_act", d.value("activation", std::string("gelu"))}};
}

// The generator parameter a checkpoint key loads into: "" for keys not used, "-" for the tied
// decoder weight (checked against the word embeddings).
std::string generator_parameter_for(const std::string& key, const std::string& architecture) {
  if (architecture == "bert") {
    static const std::regex encoder(R"(^bert\.((embeddings|encoder)\..*)$)");
    std::smatch m;
    if (std::regex_match(key, m, encoder)) return "bert." + m[1].str();
    if (key.rfind("cls.predictions.transform.dense.", 0) == 0) return "transform." + key.substr(32);
    if (key.rfind("cls.predictions.transform.LayerNorm.", 0) == 0) return "transform_norm." + key.substr(36);
    if (key == "cls.predictions.bias" || key == "cls.predictions.decoder.bias") return "output_bias";
    if (key == "cls.predictions.decoder.weight") return "-";
    return "";
  }
  static const std::regex embeddings(R"(^distilbert\.embeddings\.(word_embeddings|position_embeddings|LayerNorm)\.(.*)$)");
  static const std::regex layer(R"(^distilbert\.transformer\.layer\.(\d+)\.(.*)\.(weight|bias)$)");
  std::smatch m;
  if (std::regex_match(key, m, embeddings)) return "bert.embeddings." + m[1].str() + "." + m[2].str();
  if (std::regex_match(key, m, layer)) {
    static const std::map<std::string, std::string> renamed = {
        {"attention.q_lin", "attention.self.query"},    {"attention.k_lin", "attention.self.key"},
        {"attention.v_lin", "attention.self.value"},    {"attention.out_lin", "attention.output.dense"},
        {"sa_layer_norm", "attention.output.LayerNorm"}, {"ffn.lin1", "intermediate.dense"},
        {"ffn.lin2", "output.dense"},                   {"output_layer_norm", "output.LayerNorm"}};
    const auto it = renamed.find(m[2].str());
    return it == renamed.end() ? "" : "bert.encoder.layer." + m[1].str() + "." + it->second + "." + m[3].str();
  }
  if (key.rfind("vocab_transform.", 0) == 0) return "transform." + key.substr(16);
  if (key.rfind("vocab_layer_norm.", 0) == 0) return "transform_norm." + key.substr(17);
  if (key == "vocab_projector.bias") return "output_bias";
  if (key == "vocab_projector.weight") return "-";
  return "";
}

}  // namespace

MlmGenerator load_mlm_generator(const std::string& model_dir) {
  const fs::path dir(model_dir);
  if (!fs::is_directory(dir)) {
    throw Error("not a directory", model_dir,
                "pass --generator a Hugging Face masked-LM directory (distilbert-base-uncased, as in the paper)");
  }
  const fs::path config_path = dir / "config.json";
  const nlohmann::json raw = read_config(config_path);
  const std::string type = raw.value("model_type", "");
  if (type != "bert" && type != "distilbert") {
    throw Error("model_type '" + type + "' is not a generator simcsepp can run", config_path.string() + ": key 'model_type'",
                "use a BertForMaskedLM or DistilBertForMaskedLM directory");
  }
  const BertConfig config = BertConfig::from_json(type == "bert" ? raw : bert_config_of_distilbert(raw, config_path.string()),
                                                  config_path.string());
  const fs::path weights = dir / "model.safetensors";
  if (!fs::exists(weights)) {
    throw Error("no model.safetensors", model_dir,
                "save the generator with save_pretrained(..., safe_serialization=True), or convert pytorch_model.bin "
                "(python: safetensors.torch.save_file(torch.load(f), 'model.safetensors'))");
  }
  const auto tensors = read_safetensors(weights.string()).tensors;

  MlmGenerator generator(config, type);
  auto params = generator->named_parameters(/*recurse=*/true);
  std::map<std::string, std::string> source_of;
  std::vector<std::pair<std::string, at::Tensor>> tied;
  torch::NoGradGuard no_grad;
  for (const auto& [key, tensor] : tensors) {
    const std::string name = generator_parameter_for(key, type);
    if (name.empty()) continue;  // pooler, NSP head, position-id buffers
    const std::string where = weights.string() + ": tensor '" + key + "'";
    if (name == "-") {
      tied.emplace_back(key, tensor);
      continue;
    }
    auto* param = params.find(name);
    if (!param) {
      if (key.ends_with("position_ids") || key.ends_with("token_type_ids")) continue;  // buffers
      throw Error("no generator parameter " + name + " for this tensor", where, "is this a masked-LM checkpoint?");
    }
    if (auto [it, fresh] = source_of.emplace(name, key); !fresh) {
      // BertForMaskedLM may store the output bias twice (predictions.bias and decoder.bias).
      if (name == "output_bias" && torch::equal(tensor.to(torch::kFloat32), *param)) continue;
      throw Error("tensor also present as '" + it->second + "'", where, "the checkpoint has two copies of " + name);
    }
    if (!tensor.is_floating_point() || tensor.sizes() != param->sizes()) {
      throw Error("dtype " + std::string(c10::toString(tensor.scalar_type())) + " shape " + c10::str(tensor.sizes()) +
                      " does not fit " + c10::str(param->sizes()) + " expected from config.json",
                  where, "config.json and the weights disagree");
    }
    param->copy_(tensor.to(torch::kFloat32));
  }
  std::vector<std::string> missing;
  for (const auto& item : params) {
    if (source_of.count(item.key())) continue;
    if (type == "distilbert" && item.key() == "bert.embeddings.token_type_embeddings.weight") {
      item.value().zero_();  // DistilBERT has no token types: a zero row adds nothing
      continue;
    }
    missing.push_back(item.key());
  }
  if (!missing.empty()) {
    std::string names;
    for (size_t i = 0; i < missing.size() && i < 6; ++i) names += (i ? ", " : "") + missing[i];
    throw Error("generator weights missing: " + names + (missing.size() > 6 ? ", ..." : ""), weights.string(),
                "the file is not a complete " + type + " masked-LM checkpoint");
  }
  for (const auto& [key, tensor] : tied) {
    if (!torch::equal(tensor.to(torch::kFloat32), generator->bert->embeddings->word_embeddings->weight)) {
      throw Error("the MLM decoder weight differs from the word embeddings", weights.string() + ": tensor '" + key + "'",
                  "only generators with tied output embeddings (as transformers saves them) are supported");
    }
  }
  for (auto& p : generator->parameters()) p.set_requires_grad(false);
  generator->eval();
  LOG_INFO("generator: " << type << " masked LM from " << model_dir << " (" << config.num_hidden_layers << " x "
                         << config.hidden_size << ", frozen)");
  return generator;
}

}  // namespace simcsepp::model
