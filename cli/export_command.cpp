// export_command.cpp - `simcsepp export`: write a model directory that transformers.AutoModel and
// sentence_transformers.SentenceTransformer load as-is, from a Hugging Face BERT directory or a
// simcsepp checkpoint directory (config.json + model.safetensors). One code path: load_hf_model
// then export_hf_model (model/hf_checkpoint.h).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "model/hf_checkpoint.h"
#include "cli/command.h"
#include "base/exit_codes.h"
#include "cli/output_paths.h"
#include "model/model_card.h"

namespace simcsepp::cli {

namespace {

struct ExportConfig {
  std::string model_dir;
  std::string output_dir;
  std::string pooler;  // empty: the pooler recorded in config.json, else cls_before_pooler
  std::string vocab;   // empty: <model>/vocab.txt
};

class ExportCommand final : public Command {
 public:
  std::string name() const override { return "export"; }
  std::string summary() const override {
    return "write a Hugging Face + sentence-transformers model directory from a model or checkpoint";
  }

  void add_options(po::options_description& options) override {
    options.add_options()("model,m", po::value(&c_.model_dir)->required(),
                          "model directory: Hugging Face BERT (config.json, model.safetensors or pytorch_model.bin, "
                          "vocab.txt) or a simcsepp checkpoint directory")(
        "output,o", po::value(&c_.output_dir)->required(), "output directory (created; files in it are replaced)")(
        "pooler", po::value(&c_.pooler),
        "sentence pooler of the exported pipeline: cls_before_pooler (SimCSE evaluation), avg, or cls (MLP head "
        "as a Dense+tanh module); default: the one recorded by an earlier export, else cls_before_pooler")(
        "vocab", po::value(&c_.vocab), "vocab.txt to ship (default: <model>/vocab.txt)");
  }

  void validate(const po::variables_map&) override {
    namespace fs = std::filesystem;
    if (!fs::is_directory(c_.model_dir)) {
      throw Error("model directory '" + c_.model_dir + "' does not exist or is not a directory", "--model",
                  "pass a Hugging Face BERT directory or a simcsepp checkpoint directory (best/)");
    }
    std::error_code ec;
    if (fs::exists(c_.output_dir) && fs::equivalent(c_.model_dir, c_.output_dir, ec)) {
      fs::path suggestion = fs::absolute(c_.model_dir).lexically_normal();
      if (suggestion.filename().empty()) suggestion = suggestion.parent_path();
      throw Error("--output is the model directory itself: the export would overwrite the checkpoint it reads",
                  "--output", "export into a new directory, e.g. --output " + suggestion.string() + "-export");
    }
    if (fs::exists(c_.output_dir) && !fs::is_directory(c_.output_dir)) {
      throw Error("output '" + c_.output_dir + "' exists and is not a directory", "--output",
                  "name a new directory, or move the file out of the way");
    }
    if (!model::is_replaceable_export_dir(c_.output_dir)) {
      throw Error("output directory '" + c_.output_dir + "' holds files that are not an earlier simcsepp export",
                  "--output", "export into a new or empty directory (an earlier export there is replaced whole)");
    }
    require_output_directory(c_.output_dir, "--output");
    if (c_.vocab.empty()) c_.vocab = (fs::path(c_.model_dir) / "vocab.txt").string();
    if (!fs::is_regular_file(c_.vocab)) {
      throw Error("vocabulary not found", c_.vocab, "pass --vocab with the vocab.txt the model was trained with");
    }
    if (c_.pooler.empty()) c_.pooler = recorded_pooler();
    pooler_ = model::parse_pooler(c_.pooler);
  }

  int run() override {
    model::LoadReport report;
    auto encoder = model::load_hf_model(c_.model_dir, &report);
    // Nothing is trained here: an initialised MLP head does not replace the source's pooler.
    model::export_hf_model(encoder, c_.vocab, pooler_, c_.output_dir, &report, /*mlp_trained=*/false);
    model::ModelCardFacts card;
    card.base_model_dir = c_.model_dir;
    card.pooler = c_.pooler;
    model::write_model_card(c_.output_dir, card);
    std::cout << "export: " << c_.output_dir << " (pooler " << c_.pooler << ", weights from " << report.weights_file
              << ")\n";
    if (!report.missing.empty()) {
      std::cout << "  note: " << report.missing.size() << " tensors were not in the checkpoint and were initialised "
                << "(the MLP head; it is only used by the cls pooler)\n";
    }
    if (!report.carried.empty()) {
      std::cout << "  carried unchanged from the source: " << report.carried.size()
                << " tensors simcsepp does not use (e.g. the pretrained pooler, MLM head)\n";
    }
    return kExitOk;
  }

 private:
  // An export records its pooler in config.json, so re-exporting keeps it.
  std::string recorded_pooler() const {
    std::ifstream in(std::filesystem::path(c_.model_dir) / "config.json");
    if (in) {
      const auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (json.is_object() && json.contains("simcsepp_pooler") && json["simcsepp_pooler"].is_string()) {
        return json["simcsepp_pooler"].get<std::string>();
      }
    }
    return "cls_before_pooler";
  }

  ExportConfig c_;
  model::Pooler pooler_ = model::Pooler::kClsBeforePooler;
};

}  // namespace

std::unique_ptr<Command> make_export_command() { return std::make_unique<ExportCommand>(); }

}  // namespace simcsepp::cli
