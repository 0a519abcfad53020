// model_card.h - the README.md of an exported model directory, in the Hugging Face model-card
// convention: YAML front matter (library_name, pipeline_tag, tags, base_model, license when the
// base model's card names one), then what the model is, how it was trained (objective, recipe,
// corpus, steps, STS-B dev scores) and how to use it with sentence-transformers and transformers.
// The usage snippets load this very directory (its absolute path; replace it by the repository
// id after uploading), and the transformers one pools as the export's pooler does.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

namespace simcsepp::model {

struct ModelCardFacts {
  std::string base_model_dir;                        // the model training (or the export) started from
  std::string pooler;                                // the exported pooler: cls | cls_before_pooler | avg
  std::string objective;                             // empty: exported by `simcsepp export`, no training recorded
  nlohmann::json recipe = nlohmann::json::object();  // option -> value, shown as a table
  std::string corpus;                                // prepared corpus directory
  int64_t corpus_rows = -1;
  int64_t steps = -1;
  int64_t best_step = -1;
  double best_dev_spearman_x100 = std::numeric_limits<double>::quiet_NaN();
  double initial_dev_spearman_x100 = std::numeric_limits<double>::quiet_NaN();
};

// The card's text for the model exported to model_dir.
std::string render_model_card(const ModelCardFacts& facts, const std::string& model_dir);

// Writes model_dir/README.md (temp file + rename). Throws simcsepp::Error naming the file.
void write_model_card(const std::string& model_dir, const ModelCardFacts& facts);

}  // namespace simcsepp::model
