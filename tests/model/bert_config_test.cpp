// bert_config_test.cpp - config.json parsing: values, defaults, and errors naming the key.
#include "model/bert_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/error.h"

using namespace simcsepp::model;

namespace {
std::string error_of(const nlohmann::json& json) {
  try {
    BertConfig::from_json(json, "config.json");
  } catch (const simcsepp::Error& e) {
    EXPECT_FALSE(e.hint().empty());
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(BertConfig, ReadsHuggingFaceKeysAndRoundTrips) {
  const auto json = nlohmann::json::parse(R"({"model_type":"bert","hidden_size":64,"num_hidden_layers":2,
      "num_attention_heads":4,"intermediate_size":128,"vocab_size":100,"max_position_embeddings":40,
      "layer_norm_eps":1e-7,"hidden_dropout_prob":0.2,"attention_probs_dropout_prob":0.05,"hidden_act":"gelu"})");
  const auto c = BertConfig::from_json(json, "config.json");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.vocab_size, 100);
  EXPECT_EQ(c.type_vocab_size, 2);  // default
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-7);
  EXPECT_DOUBLE_EQ(c.attention_probs_dropout_prob, 0.05);
  const auto again = BertConfig::from_json(c.to_json(), "round trip");
  EXPECT_EQ(again.to_json(), c.to_json());
}

TEST(BertConfig, ErrorsNameTheKey) {
  EXPECT_NE(error_of({{"hidden_size", "768"}}).find("'hidden_size'"), std::string::npos);
  EXPECT_NE(error_of({{"hidden_size", 100}, {"num_attention_heads", 12}}).find("num_attention_heads"),
            std::string::npos);
  EXPECT_NE(error_of({{"hidden_act", "relu"}}).find("hidden_act"), std::string::npos);
  EXPECT_NE(error_of({{"model_type", "roberta"}}).find("model_type"), std::string::npos);
  EXPECT_NE(error_of({{"position_embedding_type", "relative_key"}}).find("position_embedding_type"), std::string::npos);
  EXPECT_NE(error_of({{"hidden_dropout_prob", 1.5}}).find("hidden_dropout_prob"), std::string::npos);
  EXPECT_NE(error_of(nlohmann::json::array()).find("JSON object"), std::string::npos);
}

TEST(BertConfig, MissingFileIsAnError) {
  EXPECT_THROW(BertConfig::from_json_file("/nonexistent/config.json"), simcsepp::Error);
}

TEST(Pooler, NamesRoundTrip) {
  for (auto p : {Pooler::kCls, Pooler::kClsBeforePooler, Pooler::kAvg, Pooler::kAvgFirstLast}) {
    EXPECT_EQ(parse_pooler(pooler_name(p)), p);
  }
  EXPECT_THROW(parse_pooler("max"), simcsepp::Error);
}
