// embed_command.cpp - `simcsepp embed`: one embedding per input line to .npy or .h5, streaming the
// input in chunks (memory stays flat for any file size), with the throughput printed at the end.
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "base/error.h"
#include "base/log.h"
#include "model/bert_config.h"
#include "data/text_source.h"
#include "cli/command.h"
#include "cli/output_paths.h"
#include "base/exit_codes.h"
#include "evaluation/embedding_writer.h"
#include "evaluation/sentence_embedder.h"

namespace simcsepp::cli {

namespace {

struct EmbedConfig {
  std::string model_dir;
  std::string input;
  std::string output;
  std::string pooler = "cls_before_pooler";
  bool normalize = false;
  int64_t max_len = 0;
  int64_t batch_size = 128;
  int64_t chunk_lines = 16384;
  std::string device = "auto";
  bool bf16 = false;
};

class EmbedCommand final : public Command {
 public:
  std::string name() const override { return "embed"; }
  std::string summary() const override { return "write one sentence embedding per input line (.npy or .h5)"; }

  void add_options(po::options_description& o) override {
    o.add_options()("model", po::value(&c_.model_dir)->required(), "model directory (config.json, weights, vocab.txt)")(
        "input", po::value(&c_.input)->required(), "UTF-8 text file, one sentence per line")(
        "output", po::value(&c_.output)->required(),
        "embeddings file: *.npy (float32 [N,H]) or *.h5 (dataset 'embeddings')")(
        "pooler", po::value(&c_.pooler)->default_value(c_.pooler), "cls_before_pooler | cls | avg | avg_first_last")(
        "normalize", po::bool_switch(&c_.normalize), "L2-normalise each embedding (default: raw)")(
        "max-len", po::value(&c_.max_len)->default_value(c_.max_len),
        "tokens per sentence incl. [CLS]/[SEP]; 0 = the model's max positions capped at 512")(
        "batch-size", po::value(&c_.batch_size)->default_value(c_.batch_size), "sentences per forward pass")(
        "chunk-lines", po::value(&c_.chunk_lines)->default_value(c_.chunk_lines),
        "lines read, sorted and written at a time (bounds memory)")(
        "device", po::value(&c_.device)->default_value(c_.device), "auto | cpu | cuda | cuda:N")(
        "bf16", po::bool_switch(&c_.bf16),
        "bf16 autocast of the encoder (faster on GPU; output stays float32); default fp32");
  }

  void validate(const po::variables_map&) override {
    pooler_ = model::parse_pooler(c_.pooler);
    if (c_.chunk_lines < 1) throw Error("must be >= 1", "--chunk-lines", "e.g. 16384");
    if (c_.max_len < 0) throw Error("must be >= 0", "--max-len", "0 uses the model's limit");
    if (c_.batch_size < 1) throw Error("must be >= 1", "--batch-size", "e.g. 128");
    if (c_.input == c_.output) throw Error("input and output are the same file", "--output", "choose another name");
    require_input_file(c_.input, "--input");
    const std::string ext = std::filesystem::path(c_.output).extension().string();
    if (ext != ".npy" && ext != ".h5" && ext != ".hdf5") {
      throw Error("unknown output format '" + ext + "' of '" + c_.output + "'", "--output",
                  "name the output file *.npy or *.h5");
    }
    require_output_file(c_.output, "--output");
  }

  int run() override {
    const auto device = evaluation::parse_device(c_.device);
    data::LineReader in(c_.input);  // plain or gzip'd text, checked complete and not binary
    auto m = evaluation::load_inference_model(c_.model_dir, device);
    evaluation::EmbedOptions options;
    options.pooler = pooler_;
    options.bf16 = c_.bf16;
    options.normalize = c_.normalize;
    options.max_len = c_.max_len > 0 ? c_.max_len : evaluation::default_eval_max_len(m.encoder->config());
    options.batch_size = c_.batch_size;
    evaluation::SentenceEmbedder embedder(m.encoder, m.tokenizer, options, device);

    auto writer = evaluation::open_embedding_writer(c_.output, embedder.hidden_size());
    writer->set_attribute("model", c_.model_dir);
    writer->set_attribute("pooler", c_.pooler);
    writer->set_attribute("normalized", c_.normalize ? "true" : "false");

    const auto start = std::chrono::steady_clock::now();
    std::vector<std::string> chunk;
    std::string line;
    auto flush = [&] {
      if (chunk.empty()) return;
      const auto emb = embedder.embed(chunk).contiguous();
      writer->append(emb.data_ptr<float>(), emb.size(0));
      chunk.clear();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      LOG_INFO(writer->rows_written() << " sentences embedded (" << static_cast<int64_t>(writer->rows_written() / s)
                                      << " sentences/s)");
    };
    while (in.next(line, nullptr)) {
      chunk.push_back(std::move(line));
      if (static_cast<int64_t>(chunk.size()) >= c_.chunk_lines) flush();
    }
    flush();
    writer->finish();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int64_t n = writer->rows_written();
    std::cout << "embedded " << n << " sentences -> " << c_.output << " [" << n << ", " << embedder.hidden_size()
              << "] float32" << (c_.normalize ? ", L2-normalised" : "") << " in " << seconds << " s ("
              << (seconds > 0 ? n / seconds : 0.0) << " sentences/s on " << device.str() << ")\n";
    if (embedder.truncated_sentences() > 0) {
      std::cout << embedder.truncated_sentences() << " sentences were truncated to " << options.max_len << " tokens\n";
    }
    return kExitOk;
  }

 private:
  EmbedConfig c_;
  model::Pooler pooler_ = model::Pooler::kClsBeforePooler;
};

}  // namespace

std::unique_ptr<Command> make_embed_command() { return std::make_unique<EmbedCommand>(); }

}  // namespace simcsepp::cli
