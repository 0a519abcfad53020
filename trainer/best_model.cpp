// best_model.cpp - see best_model.h.
#include "trainer/best_model.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/remove_tree.h"
#include "model/hf_checkpoint.h"

namespace simcsepp::trainer {

namespace fs = std::filesystem;

void save_best_model(model::SentenceEncoder& encoder, const std::string& run_dir, int64_t step, double score) {
  const fs::path best = fs::path(run_dir) / "best";
  const fs::path tmp = fs::path(run_dir) / "best.tmp";
  const fs::path old = fs::path(run_dir) / "best.old";
  remove_tree(tmp);
  fs::create_directories(tmp);
  model::save_sentence_encoder_weights(encoder, (tmp / "model.safetensors").string());
  std::ofstream(tmp / "config.json") << encoder->config().to_json().dump(2);
  std::ofstream(tmp / "best.json") << nlohmann::json{{"step", step}, {"sts_dev_spearman_x100", score}}.dump(2);
  remove_tree(old);
  if (fs::exists(best)) fs::rename(best, old);
  fs::rename(tmp, best);
  remove_tree(old);
}

}  // namespace simcsepp::trainer
