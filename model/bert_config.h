// bert_config.h - the BERT architecture hyper-parameters (a Hugging Face config.json) and the
// sentence poolers.
//
// BertConfig mirrors the keys of transformers' BertConfig that change the computation; it is read
// from and written to config.json so a simcsepp model and a Hugging Face model directory are the
// same thing. No torch here: the data and CLI layers include this header cheaply.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace simcsepp::model {

struct BertConfig {
  // Defaults are bert-base-uncased.
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  int64_t pad_token_id = 0;
  double layer_norm_eps = 1e-12;
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  // Std of the normal init of fresh weights (the MLP head when a checkpoint has none).
  double initializer_range = 0.02;

  // Reads a Hugging Face config.json. Throws simcsepp::Error naming the file and key when a key
  // has the wrong type or value, or the architecture is not a BERT encoder we can run
  // (hidden_act other than gelu, relative position embeddings, heads not dividing hidden size).
  static BertConfig from_json_file(const std::string& path);
  // Same, from parsed JSON; `where` names the source in errors.
  static BertConfig from_json(const nlohmann::json& json, const std::string& where);
  // A complete config.json for transformers' BertModel (model_type "bert").
  nlohmann::json to_json() const;
  // Throws simcsepp::Error (naming `where`) on values no encoder can be built from.
  void validate(const std::string& where) const;
};

// How a sentence embedding is taken from the encoder output (SimCSE's pooler names).
enum class Pooler {
  kCls,              // [CLS] hidden state through the MLP head (Linear(H,H) + tanh): training
  kClsBeforePooler,  // raw [CLS] hidden state: evaluation and export
  kAvg,              // mean of the last layer over non-padding tokens
  kAvgFirstLast,     // mean over non-padding tokens of (first layer output + last layer) / 2
};

// "cls" | "cls_before_pooler" | "avg" | "avg_first_last"; throws simcsepp::Error otherwise.
Pooler parse_pooler(const std::string& name);
std::string pooler_name(Pooler pooler);

}  // namespace simcsepp::model
