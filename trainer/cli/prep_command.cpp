// prep_command.cpp - `simcsepp prep`: text / gzip / CSV inputs -> HDF5 shards + manifest.json.
// The pipeline itself is data/prep.h; this file binds its options and prints the summary.
#include <iostream>
#include <filesystem>
#include <thread>

#include "cluster/base/error.h"
#include "data/prep.h"
#include "trainer/cli/command.h"
#include "trainer/cli/output_paths.h"
#include "trainer/cli/exit_codes.h"

namespace simcsepp::cli {

namespace {

class PrepCommand final : public Command {
 public:
  std::string name() const override { return "prep"; }
  std::string summary() const override { return "tokenize text/CSV corpora into sharded HDF5 for training"; }

  void add_options(po::options_description& options) override {
    options.add_options()("input,i", po::value(&o_.inputs)->multitoken()->required(),
                          "input files: text (one sentence per line), .gz text, or .csv with header "
                          "sent0,sent1[,hard_neg]; several allowed, all of one kind")(
        "output,o", po::value(&o_.output_dir)->required(), "output directory for shards and manifest.json")(
        "vocab", po::value(&o_.vocab_path)->required(), "BERT vocab.txt")(
        "cased", po::bool_switch(&cased_), "keep case and accents (default: uncased, like bert-base-uncased)")(
        "max-len", po::value(&o_.max_len)->default_value(32), "tokens per row including [CLS] and [SEP]")(
        "shard-rows", po::value(&o_.shard_rows)->default_value(100000), "rows per HDF5 shard")(
        "threads", po::value(&o_.threads)->default_value(static_cast<int>(std::thread::hardware_concurrency())),
        "tokenizer threads")("overwrite", po::bool_switch(&o_.overwrite),
                             "replace a different prepared corpus already in --output")(
        "no-progress", po::bool_switch(&no_progress_), "no progress bar / progress lines");
  }

  po::positional_options_description positional() const override {
    po::positional_options_description p;
    p.add("input", -1);
    return p;
  }

  void validate(const po::variables_map&) override {
    o_.lowercase = !cased_;
    o_.progress = !no_progress_;
    if (o_.threads < 1) throw Error("--threads must be at least 1", "--threads", "");
    if (o_.shard_rows < 1) throw Error("--shard-rows must be at least 1", "--shard-rows", "the default is 100000");
    require_input_file(o_.vocab_path, "--vocab");
    for (const auto& in : o_.inputs) {
      require_input_file(in, "--input");
      std::error_code ec;
      if (std::filesystem::exists(o_.output_dir) && std::filesystem::equivalent(in, o_.output_dir, ec)) {
        throw Error("--output is one of the inputs", "--output", "name a new directory for the shards");
      }
    }
    require_output_directory(o_.output_dir, "--output");
  }

  int run() override {
    const auto result = data::run_prep(o_);
    std::cout << "prep: " << o_.output_dir << "\n" << data::format_prep_summary(result) << "\n";
    return kExitOk;
  }

 private:
  data::PrepOptions o_;
  bool cased_ = false;
  bool no_progress_ = false;
};

}  // namespace

std::unique_ptr<Command> make_prep_command() { return std::make_unique<PrepCommand>(); }

}  // namespace simcsepp::cli
