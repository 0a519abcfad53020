// bert_config.cpp - config.json <-> BertConfig, pooler names.
#include "model/bert_config.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"

namespace simcsepp::model {

namespace {

// Reads json[key] into `out` if present; a present key of the wrong type is an error that names
// the key, so a typo'd config never silently falls back to a default.
template <typename T>
void read_key(const nlohmann::json& json, const char* key, T& out, const std::string& where) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) return;
  const bool ok = std::is_floating_point_v<T> ? it->is_number() : it->is_number_integer();
  if (!ok) {
    throw Error(std::string("key '") + key + "' must be " + (std::is_floating_point_v<T> ? "a number" : "an integer") +
                    ", got " + it->dump(),
                where, "fix config.json; see transformers' BertConfig for the expected keys");
  }
  out = it->get<T>();
}

}  // namespace

BertConfig BertConfig::from_json(const nlohmann::json& json, const std::string& where) {
  if (!json.is_object()) throw Error("config must be a JSON object", where, "is this a Hugging Face config.json?");
  BertConfig c;
  read_key(json, "vocab_size", c.vocab_size, where);
  read_key(json, "hidden_size", c.hidden_size, where);
  read_key(json, "num_hidden_layers", c.num_hidden_layers, where);
  read_key(json, "num_attention_heads", c.num_attention_heads, where);
  read_key(json, "intermediate_size", c.intermediate_size, where);
  read_key(json, "max_position_embeddings", c.max_position_embeddings, where);
  read_key(json, "type_vocab_size", c.type_vocab_size, where);
  read_key(json, "pad_token_id", c.pad_token_id, where);
  read_key(json, "layer_norm_eps", c.layer_norm_eps, where);
  read_key(json, "hidden_dropout_prob", c.hidden_dropout_prob, where);
  read_key(json, "attention_probs_dropout_prob", c.attention_probs_dropout_prob, where);
  read_key(json, "initializer_range", c.initializer_range, where);

  // Architecture variants this encoder does not implement must fail loudly, not run wrongly.
  if (auto it = json.find("model_type"); it != json.end() && it->is_string()) {
    const std::string type = it->get<std::string>();
    if (type != "bert") {
      throw Error("model_type '" + type + "' is not supported (only 'bert')", where + ": key 'model_type'",
                  "use a BERT checkpoint (bert-base-uncased layout, e.g. scripts/get_pretrained.sh)");
    }
  }
  if (auto it = json.find("hidden_act"); it != json.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>() != "gelu") {
      throw Error("hidden_act " + it->dump() + " is not supported (only exact \"gelu\")", where + ": key 'hidden_act'",
                  "this encoder implements erf GELU as in bert-base; convert or choose a BERT checkpoint");
    }
  }
  if (auto it = json.find("position_embedding_type"); it != json.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>() != "absolute") {
      throw Error("position_embedding_type " + it->dump() + " is not supported (only \"absolute\")",
                  where + ": key 'position_embedding_type'", "use a checkpoint with absolute position embeddings");
    }
  }
  c.validate(where);
  return c;
}

BertConfig BertConfig::from_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open config file", path, "a Hugging Face model directory holds config.json");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(std::string("invalid JSON: ") + e.what(), path, "fix or regenerate config.json");
  }
  return from_json(json, path);
}

void BertConfig::validate(const std::string& where) const {
  auto require = [&](bool ok, const std::string& key, const std::string& what) {
    if (!ok) throw Error(key + " " + what, where + ": key '" + key + "'", "fix config.json");
  };
  require(vocab_size > 0, "vocab_size", "must be positive");
  require(hidden_size > 0, "hidden_size", "must be positive");
  require(num_hidden_layers > 0, "num_hidden_layers", "must be positive");
  require(num_attention_heads > 0, "num_attention_heads", "must be positive");
  require(hidden_size % num_attention_heads == 0, "num_attention_heads",
          "must divide hidden_size (" + std::to_string(hidden_size) + ")");
  require(intermediate_size > 0, "intermediate_size", "must be positive");
  require(max_position_embeddings > 0, "max_position_embeddings", "must be positive");
  require(type_vocab_size > 0, "type_vocab_size", "must be positive");
  require(pad_token_id >= 0 && pad_token_id < vocab_size, "pad_token_id", "must be a token id below vocab_size");
  require(layer_norm_eps > 0, "layer_norm_eps", "must be positive");
  require(hidden_dropout_prob >= 0 && hidden_dropout_prob < 1, "hidden_dropout_prob", "must be in [0, 1)");
  require(attention_probs_dropout_prob >= 0 && attention_probs_dropout_prob < 1, "attention_probs_dropout_prob",
          "must be in [0, 1)");
  require(initializer_range > 0, "initializer_range", "must be positive");
}

nlohmann::json BertConfig::to_json() const {
  return nlohmann::json{
      {"architectures", {"BertModel"}},
      {"model_type", "bert"},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"intermediate_size", intermediate_size},
      {"max_position_embeddings", max_position_embeddings},
      {"type_vocab_size", type_vocab_size},
      {"pad_token_id", pad_token_id},
      {"layer_norm_eps", layer_norm_eps},
      {"hidden_dropout_prob", hidden_dropout_prob},
      {"attention_probs_dropout_prob", attention_probs_dropout_prob},
      {"initializer_range", initializer_range},
      {"hidden_act", "gelu"},
      {"position_embedding_type", "absolute"},
      {"torch_dtype", "float32"},
      {"use_cache", false},
  };
}

Pooler parse_pooler(const std::string& name) {
  if (name == "cls") return Pooler::kCls;
  if (name == "cls_before_pooler") return Pooler::kClsBeforePooler;
  if (name == "avg") return Pooler::kAvg;
  if (name == "avg_first_last") return Pooler::kAvgFirstLast;
  throw Error("unknown pooler '" + name + "'", "pooler", "use one of: cls, cls_before_pooler, avg, avg_first_last");
}

std::string pooler_name(Pooler pooler) {
  switch (pooler) {
    case Pooler::kCls:
      return "cls";
    case Pooler::kClsBeforePooler:
      return "cls_before_pooler";
    case Pooler::kAvg:
      return "avg";
    case Pooler::kAvgFirstLast:
      return "avg_first_last";
  }
  throw std::logic_error("pooler_name: unhandled Pooler value");
}

}  // namespace simcsepp::model
