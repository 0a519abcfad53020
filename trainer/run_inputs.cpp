// run_inputs.cpp - see run_inputs.h.
#include "trainer/run_inputs.h"

#include <algorithm>
#include <filesystem>
#include <functional>

#include "base/error.h"
#include "data/wordpiece_tokenizer.h"

namespace simcsepp::trainer {

namespace fs = std::filesystem;

RunInputs check_run_inputs(const TrainOptions& o, const model::ObjectiveConfig& objective) {
  RunInputs in;
  const fs::path model(o.model_dir);
  if (!fs::is_directory(model)) {
    throw Error(fs::exists(model) ? "--model is a file, not a model directory" : "model directory does not exist",
                o.model_dir, "pass a Hugging Face BERT directory (config.json, weights, vocab.txt) to --model");
  }
  in.vocab_path = (model / "vocab.txt").string();
  if (!fs::is_regular_file(in.vocab_path)) {
    throw Error("model directory has no vocab.txt", in.vocab_path,
                "the trainer needs the model's WordPiece vocabulary");
  }
  in.bert = model::BertConfig::from_json_file((model / "config.json").string());
  in.manifest = data::Manifest::load(o.corpus_dir);
  if (o.max_len > in.bert.max_position_embeddings) {
    throw Error("--max-len " + std::to_string(o.max_len) + " exceeds the model's max_position_embeddings " +
                    std::to_string(in.bert.max_position_embeddings),
                "--max-len", "use at most " + std::to_string(in.bert.max_position_embeddings));
  }
  if (in.manifest.max_len != o.max_len) {
    throw Error("the corpus was prepared with max_len " + std::to_string(in.manifest.max_len) + ", --max-len is " +
                    std::to_string(o.max_len),
                o.corpus_dir + "/manifest.json",
                "pass --max-len " + std::to_string(in.manifest.max_len) + " or re-run `simcsepp prep --max-len " +
                    std::to_string(o.max_len) + "`");
  }
  const auto tokenizer = data::WordPieceTokenizer::from_vocab_file(in.vocab_path, in.manifest.lowercase);
  if (tokenizer.vocab_sha256() != in.manifest.vocab_sha256) {
    throw Error("the corpus was made with another vocabulary than the model's (vocab sha256 " +
                    in.manifest.vocab_sha256.substr(0, 12) + "... vs " + tokenizer.vocab_sha256().substr(0, 12) +
                    "...)",
                o.corpus_dir + "/manifest.json",
                "re-run `simcsepp prep --vocab " + in.vocab_path + "` or pass the matching --model");
  }
  if (in.manifest.vocab_size > in.bert.vocab_size) {
    throw Error("corpus vocabulary (" + std::to_string(in.manifest.vocab_size) +
                    ") larger than the model's vocab_size " + std::to_string(in.bert.vocab_size),
                o.model_dir + "/config.json", "use the model the corpus was prepared for");
  }
  const size_t columns = in.manifest.columns.size();
  if (objective.supervised && columns < 2) {
    throw Error("objective " + objective.name() + " needs sentence pairs or triplets; the corpus has one column",
                o.corpus_dir + "/manifest.json", "prepare NLI triplets or use --objective simcse++");
  }
  if (!fs::is_regular_file(o.sts_dev)) {
    throw Error(fs::is_directory(o.sts_dev) ? "STS-B dev file is a directory" : "STS-B dev file not found", o.sts_dev,
                "pass --sts-dev PATH/STSBenchmark/sts-dev.csv");
  }
  // The dev score picks the best checkpoint: a file it cannot rank (no pairs, one gold score)
  // would make every score NaN and the run end without a model.
  in.dev_pairs = data::read_stsbenchmark(o.sts_dev);
  const auto& gold = in.dev_pairs.gold;
  if (gold.size() < 2 || std::adjacent_find(gold.begin(), gold.end(), std::not_equal_to<>()) == gold.end()) {
    throw Error("the STS-B dev file has " + std::to_string(gold.size()) +
                    " pair(s) and no two different gold scores: a Spearman correlation over it is undefined, so no "
                    "checkpoint could be chosen as best",
                o.sts_dev, "pass SentEval's STSBenchmark/sts-dev.csv (1500 pairs)");
  }
  return in;
}

}  // namespace simcsepp::trainer
