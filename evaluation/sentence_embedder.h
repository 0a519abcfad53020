// sentence_embedder.h - text -> sentence embeddings in batches (evaluation and `simcsepp embed`).
//
// Encodes each distinct sentence once (repeats get identical rows), tokenizes with [CLS] ... [SEP]
// truncated to max_len, sorts the sentences by token count so each
// batch pads only to its own longest sentence (padding is masked, so the order changes speed, not
// results), runs the encoder without dropout and without autograd on `device`, and returns the
// embeddings in input order as fp32 on the CPU. With `bf16` the encoder calls of one embed() run
// in one bf16 autocast region on `device` (model/autocast_scope.h; CPU autocast on a CPU); the
// default is fp32, as `simcsepp eval` and the trainer's STS-B evaluation. The encoder is switched to eval() for the
// call and restored to the train/eval mode it was in, also when an exception leaves the call.
//
// Not thread-safe: one embedder (and its encoder) per thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/wordpiece_tokenizer.h"
#include "model/bert_config.h"
#include "model/sentence_encoder.h"

namespace simcsepp::evaluation {

struct EmbedOptions {
  model::Pooler pooler = model::Pooler::kClsBeforePooler;
  int64_t max_len = 512;     // tokens including [CLS]/[SEP]; SentEval does not truncate at 32
  int64_t batch_size = 128;  // sentences per encoder call
  bool normalize = false;    // L2-normalise each embedding
  bool bf16 = false;         // bf16 autocast of the encoder (output stays fp32)
};

class SentenceEmbedder {
 public:
  // Keeps references: encoder and tokenizer must outlive the embedder. The encoder must already
  // live on `device`.
  SentenceEmbedder(model::SentenceEncoder& encoder, const data::WordPieceTokenizer& tokenizer, EmbedOptions options,
                   torch::Device device);

  // [N, H] fp32 CPU tensor, row i = embedding of sentences[i]. N = 0 gives [0, H].
  torch::Tensor embed(const std::vector<std::string>& sentences);

  const EmbedOptions& options() const { return options_; }
  int64_t hidden_size() const;
  // Sentences cut at max_len so far (a warning is logged once per embed() call that cut some).
  int64_t truncated_sentences() const { return truncated_; }

 private:
  torch::Tensor embed_distinct(const std::vector<std::string>& sentences);

  model::SentenceEncoder& encoder_;
  const data::WordPieceTokenizer& tokenizer_;
  EmbedOptions options_;
  torch::Device device_;
  int64_t truncated_ = 0;
};

// The default evaluation length: the model's max positions, capped at 512.
int64_t default_eval_max_len(const model::BertConfig& config);

// "auto" (CUDA device 0 when present, else CPU), "cpu", "cuda", "cuda:N". Throws simcsepp::Error
// naming `option` for anything else or for CUDA on a machine without it.
torch::Device parse_device(const std::string& name, const std::string& option = "--device");

// A model directory ready for inference: the encoder (eval mode, on `device`) and its tokenizer
// (vocab.txt; lower-casing from tokenizer_config.json's do_lower_case, default true).
struct InferenceModel {
  model::SentenceEncoder encoder{nullptr};
  data::WordPieceTokenizer tokenizer;
};
InferenceModel load_inference_model(const std::string& model_dir, torch::Device device);

}  // namespace simcsepp::evaluation
