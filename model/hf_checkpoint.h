// hf_checkpoint.h - Hugging Face model directories in and out.
//
// In: config.json + model.safetensors (or pytorch_model.bin, read by libtorch's unpickler without
// Python). Keys may carry the "bert." prefix (BertForMaskedLM, SimCSE checkpoints) or not
// (BertModel); MLM/NSP head keys ("cls.*") and position/token-type id buffers are ignored and
// reported as unexpected. The MLP head is taken from "mlp.dense.*" (SimCSE layout) or from
// "pooler.dense.*" when config.json says simcsepp exported it there ("simcsepp_mlp_in_pooler");
// a pretrained BERT pooler is NOT used as the MLP (SimCSE starts the MLP fresh), so without
// either the head is initialised from a fixed seed and reported missing.
//
// Out: a directory that transformers.AutoModel and sentence_transformers.SentenceTransformer
// load as-is. The MLP head is saved as HF "pooler.dense" (so BertModel's pooler_output equals the
// `cls` pooler); the sentence-transformers pipeline implements the evaluation pooler.
#pragma once

#include <ATen/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "model/bert_config.h"
#include "model/sentence_encoder.h"

namespace simcsepp::model {

struct LoadReport {
  std::vector<std::string> missing;     // parameters not in the file (initialised instead)
  std::vector<std::string> unexpected;  // file tensors that were not used
  std::string weights_file;             // the file the weights came from
  // The unused tensors themselves, under their BertModel key (a "bert." prefix removed): what an
  // export must carry unchanged (the pretrained pooler, MLM/NSP heads). Position/token-type id
  // buffers are not carried (transformers rebuilds them).
  std::map<std::string, at::Tensor> carried;
  bool mlp_initialised = false;  // the MLP head was not in the file (fresh, seeded)
};

// Loads config.json + model.safetensors (or pytorch_model.bin) from a HF model dir; throws
// simcsepp::Error naming file/tensor on problems (missing encoder weights, shape mismatch,
// non-float dtype, unreadable files). The MLP head is initialised (seeded) if absent.
SentenceEncoder load_hf_model(const std::string& model_dir, LoadReport* report = nullptr);

// Writes the HF + sentence-transformers directory (vocab copied from vocab_path). Pooler kCls
// adds a sentence-transformers Dense(tanh) module carrying the MLP; kAvgFirstLast has no
// sentence-transformers equivalent and is rejected.
//
// `source` (the LoadReport of the checkpoint the encoder started from) makes the export carry
// every tensor simcsepp does not own unchanged: its carried tensors are written as they were,
// and when the MLP head was initialised rather than loaded or trained (`mlp_trained` false), the
// source's own pooler.dense stays HF's pooler instead of the untrained head.
//
// The directory is written whole or not at all: into a temporary sibling, then swapped in. An
// existing out_dir must be empty or an earlier simcsepp export (config.json with
// "simcsepp_pooler"); anything else is refused (an Error), so no other model is overwritten.
void export_hf_model(SentenceEncoder& encoder, const std::string& vocab_path, Pooler eval_pooler,
                     const std::string& out_dir, const LoadReport* source = nullptr, bool mlp_trained = true);

// True when `dir` is absent, empty or an earlier export (export_hf_model may replace it).
bool is_replaceable_export_dir(const std::string& dir);

// Saves every parameter under its simcsepp name ("bert.*", "mlp.dense.*") in fp32: the weights
// half of a training checkpoint; load_hf_model reads a directory with this file + config.json.
void save_sentence_encoder_weights(SentenceEncoder& encoder, const std::string& path);

}  // namespace simcsepp::model
