// eval_command.cpp - `simcsepp eval`: the SentEval STS suite (STS12-16, STS-B, SICK-R) on a model
// directory, as in SimCSE's evaluation (docs/method.md section 7, docs/evaluation.md): a table on
// the terminal and a JSON file. Tasks whose files are absent are reported missing, not zero.
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/error.h"
#include "base/log.h"
#include "data/sts_suite.h"
#include "cli/command.h"
#include "base/exit_codes.h"
#include "cli/output_paths.h"
#include "evaluation/sentence_embedder.h"
#include "evaluation/sts_evaluation.h"
#include "evaluation/sts_report.h"

namespace simcsepp::cli {

namespace {

struct EvalConfig {
  std::string model_dir;
  std::string senteval_data;
  std::string tasks = "STS12,STS13,STS14,STS15,STS16,STSBenchmark,SICKRelatedness";
  std::string pooler = "cls_before_pooler";
  int64_t max_len = 0;  // 0: the model's max positions, capped at 512
  int64_t batch_size = 128;
  std::string device = "auto";
  std::string output = "sts_eval.json";
  bool include_train = false;
  bool bf16 = false;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

class EvalCommand final : public Command {
 public:
  std::string name() const override { return "eval"; }
  std::string summary() const override { return "score a model on the SentEval STS suite (Spearman x 100)"; }

  void add_options(po::options_description& o) override {
    o.add_options()("model", po::value(&c_.model_dir)->required(),
                    "model directory (config.json, model.safetensors, vocab.txt): an export or a HF BERT")(
        "senteval-data", po::value(&c_.senteval_data)->required(),
        "SentEval's data/downstream folder (STS/STS12-en-test ... STS/STSBenchmark, SICK/)")(
        "tasks", po::value(&c_.tasks)->default_value(c_.tasks),
        "comma-separated tasks (STS-B and SICK-R also accepted)")(
        "pooler", po::value(&c_.pooler)->default_value(c_.pooler), "cls_before_pooler | cls | avg | avg_first_last")(
        "max-len", po::value(&c_.max_len)->default_value(c_.max_len),
        "tokens per sentence incl. [CLS]/[SEP]; 0 = the model's max positions capped at 512 (SentEval does not "
        "truncate)")("batch-size", po::value(&c_.batch_size)->default_value(c_.batch_size),
                     "sentences per forward pass")("device", po::value(&c_.device)->default_value(c_.device),
                                                   "auto | cpu | cuda | cuda:N")(
        "output", po::value(&c_.output)->default_value(c_.output), "JSON results file")(
        "include-train", po::bool_switch(&c_.include_train), "also score the STS-B and SICK train splits (slow)")(
        "bf16", po::bool_switch(&c_.bf16),
        "bf16 autocast of the encoder (faster on GPU; cosines still fp32); default fp32");
  }

  void validate(const po::variables_map&) override {
    pooler_ = model::parse_pooler(c_.pooler);
    for (const auto& t : split_list(c_.tasks)) specs_.push_back(&data::find_sts_task(t));
    if (specs_.empty()) throw Error("no task given", "--tasks", "e.g. --tasks STS12,STSBenchmark");
    if (!std::filesystem::is_directory(c_.senteval_data)) {
      throw Error("not a directory: " + c_.senteval_data, "--senteval-data",
                  "point it at SentEval's data/downstream folder (run SentEval's get_transfer_data.bash)");
    }
    if (c_.max_len < 0) throw Error("must be >= 0", "--max-len", "0 uses the model's limit");
    if (c_.batch_size < 1) throw Error("must be >= 1", "--batch-size", "e.g. 128");
    require_output_file(c_.output, "--output");
  }

  int run() override {
    const auto device = evaluation::parse_device(c_.device);
    // Read every file first: a malformed file fails before minutes of encoding.
    std::vector<data::LoadedStsTask> tasks;
    for (const auto* spec : specs_) {
      tasks.push_back(data::load_sts_task(*spec, c_.senteval_data));
      if (!tasks.back().missing.empty()) LOG_WARN(spec->name << " missing: " << tasks.back().missing);
    }
    auto m = evaluation::load_inference_model(c_.model_dir, device);
    evaluation::EmbedOptions options;
    options.pooler = pooler_;
    options.bf16 = c_.bf16;
    options.max_len = c_.max_len > 0 ? c_.max_len : evaluation::default_eval_max_len(m.encoder->config());
    options.batch_size = c_.batch_size;
    evaluation::SentenceEmbedder embedder(m.encoder, m.tokenizer, options, device);

    const auto start = std::chrono::steady_clock::now();
    const auto result = evaluation::evaluate_sts_suite(embedder, tasks, c_.include_train);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::cout << "STS evaluation of " << c_.model_dir << " (pooler " << c_.pooler << ", max_len " << options.max_len
              << ", " << device.str() << ")\n"
              << evaluation::format_sts_table(result);
    const nlohmann::json settings = {{"model", c_.model_dir},
                                     {"senteval_data", c_.senteval_data},
                                     {"pooler", c_.pooler},
                                     {"max_len", options.max_len},
                                     {"batch_size", c_.batch_size},
                                     {"device", device.str()},
                                     {"bf16", c_.bf16},
                                     {"include_train", c_.include_train},
                                     {"seconds", seconds}};
    const auto json = evaluation::sts_result_to_json(result, settings);
    std::ofstream out(c_.output);
    if (!out) throw Error("cannot write the results file", c_.output, "check the folder exists and is writable");
    out << json.dump(2) << "\n";
    if (!out) throw Error("write failed", c_.output, "is the disk full?");
    std::cout << "results written to " << c_.output << " (" << seconds << " s)\n";
    return kExitOk;
  }

 private:
  EvalConfig c_;
  model::Pooler pooler_ = model::Pooler::kClsBeforePooler;
  std::vector<const data::StsTaskSpec*> specs_;
};

}  // namespace

std::unique_ptr<Command> make_eval_command() { return std::make_unique<EvalCommand>(); }

}  // namespace simcsepp::cli
