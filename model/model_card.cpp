// model_card.cpp - render_model_card / write_model_card (model_card.h).
#include "model/model_card.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "simcsepp/build_config.h"

namespace fs = std::filesystem;

namespace simcsepp::model {

namespace {

// A YAML double-quoted scalar: JSON's string syntax is valid YAML.
std::string yaml_string(const std::string& s) { return nlohmann::json(s).dump(); }

// The base model's name: its config.json "_name_or_path" (what transformers recorded), else the
// directory's name.
std::string base_model_name(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "config.json");
  if (in) {
    const auto config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (config.is_object() && config.contains("_name_or_path") && config["_name_or_path"].is_string() &&
        !config["_name_or_path"].get<std::string>().empty()) {
      return config["_name_or_path"].get<std::string>();
    }
  }
  return fs::path(dir).lexically_normal().filename().string();
}

// "license: X" of the base model's own card (its YAML front matter), or "" when it has none.
std::string base_model_license(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "README.md");
  std::string line;
  if (!std::getline(in, line) || line != "---") return "";
  while (std::getline(in, line) && line != "---") {
    if (line.rfind("license:", 0) == 0) {
      std::string v = line.substr(8);
      v.erase(0, v.find_first_not_of(" \t\"'"));
      v.erase(v.find_last_not_of(" \t\"'\r") + 1);
      return v;
    }
  }
  return "";
}

std::string score(double v) {
  if (!std::isfinite(v)) return "not measured";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

// How transformers' outputs become the sentence embedding, for the export's pooler.
std::string transformers_pooling(const std::string& pooler) {
  if (pooler == "avg") {
    return "mask = batch[\"attention_mask\"].unsqueeze(-1).float()\n"
           "embeddings = (outputs.last_hidden_state * mask).sum(1) / mask.sum(1)  # mean over tokens\n";
  }
  if (pooler == "cls") return "embeddings = outputs.pooler_output  # [CLS] through the trained MLP (dense + tanh)\n";
  return "embeddings = outputs.last_hidden_state[:, 0]  # the [CLS] token's last hidden state\n";
}

}  // namespace

std::string render_model_card(const ModelCardFacts& f, const std::string& model_dir) {
  const std::string base = base_model_name(f.base_model_dir);
  const std::string license = base_model_license(f.base_model_dir);
  const std::string path = fs::absolute(model_dir).lexically_normal().string();
  std::ostringstream o;
  o << "---\n"
    << "library_name: sentence-transformers\n"
    << "pipeline_tag: sentence-similarity\n"
    << "tags:\n- sentence-transformers\n- sentence-similarity\n- feature-extraction\n- simcsepp\n";
  if (!f.objective.empty()) o << "- " << yaml_string(f.objective) << "\n";
  o << "base_model: " << yaml_string(base) << "\n";
  if (!license.empty()) o << "license: " << yaml_string(license) << "\n";
  o << "---\n\n";
  o << "# Sentence encoder from " << base << "\n\n";
  if (f.objective.empty()) {
    o << "Exported by `simcsepp export` (simcsepp " << SIMCSEPP_VERSION << ") from `" << f.base_model_dir
      << "`; no training is recorded with this export. Sentence embedding: the `" << f.pooler << "` pooler.\n\n";
  } else {
    o << "A BERT sentence encoder trained with simcsepp " << SIMCSEPP_VERSION << " (objective `" << f.objective
      << "`: contrastive learning; `simcse++` takes in-batch negatives from a dropout-off pass and adds the "
      << "dimension-wise contrastive loss, Xu et al., EMNLP 2023), starting from `" << base
      << "`. Sentence embedding: the `" << f.pooler << "` pooler.\n\n";
    o << "## Training\n\n| | |\n|---|---|\n";
    o << "| objective | `" << f.objective << "` |\n";
    if (!f.corpus.empty()) o << "| corpus | `" << f.corpus << "` (" << f.corpus_rows << " rows) |\n";
    if (f.steps >= 0) o << "| updates | " << f.steps << " |\n";
    for (const auto& [key, value] : f.recipe.items()) {
      o << "| " << key << " | `" << (value.is_string() ? value.get<std::string>() : value.dump()) << "` |\n";
    }
    o << "\n## Evaluation\n\nSTS-B dev, Spearman correlation x 100 of cosine similarities (the score that "
      << "chose this checkpoint):\n\n| | STS-B dev |\n|---|---|\n"
      << "| before training | " << score(f.initial_dev_spearman_x100) << " |\n"
      << "| this model (step " << f.best_step << ") | " << score(f.best_dev_spearman_x100) << " |\n\n"
      << "For the full STS12-16, STS-B and SICK-R protocol run `simcsepp eval --model <this directory>`.\n\n";
  }
  o << "## Usage\n\nWith sentence-transformers:\n\n```python\n"
    << "from sentence_transformers import SentenceTransformer\n\n"
    << "model_path = " << yaml_string(path) << "  # or the Hugging Face repository id after upload\n"
    << "model = SentenceTransformer(model_path)\n"
    << "embeddings = model.encode([\"A man is playing a guitar.\", \"Someone is playing an instrument.\"])\n"
    << "print(model.similarity(embeddings, embeddings))\n```\n\n"
    << "With transformers:\n\n```python\nimport torch\nfrom transformers import AutoModel, AutoTokenizer\n\n"
    << "model_path = " << yaml_string(path) << "  # or the Hugging Face repository id after upload\n"
    << "tokenizer = AutoTokenizer.from_pretrained(model_path)\n"
    << "model = AutoModel.from_pretrained(model_path).eval()\n"
    << "batch = tokenizer([\"A man is playing a guitar.\", \"Someone is playing an instrument.\"], padding=True, "
       "truncation=True, return_tensors=\"pt\")\n"
    << "with torch.no_grad():\n    outputs = model(**batch)\n"
    << transformers_pooling(f.pooler) << "embeddings = torch.nn.functional.normalize(embeddings, dim=-1)\n"
    << "print(embeddings @ embeddings.T)\n```\n";
  return o.str();
}

void write_model_card(const std::string& model_dir, const ModelCardFacts& facts) {
  const fs::path path = fs::path(model_dir) / "README.md";
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << render_model_card(facts, model_dir);
    if (!out) throw Error("cannot write the model card", tmp.string(), "check free space and permissions");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error("cannot write the model card: " + ec.message(), path.string(), "check permissions");
}

}  // namespace simcsepp::model
