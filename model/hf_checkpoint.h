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

#include <string>
#include <vector>

#include "model/bert_config.h"
#include "model/sentence_encoder.h"

namespace simcsepp::model {

struct LoadReport {
  std::vector<std::string> missing;     // parameters not in the file (initialised instead)
  std::vector<std::string> unexpected;  // file tensors that were not used
  std::string weights_file;             // the file the weights came from
};

// Loads config.json + model.safetensors (or pytorch_model.bin) from a HF model dir; throws
// simcsepp::Error naming file/tensor on problems (missing encoder weights, shape mismatch,
// non-float dtype, unreadable files). The MLP head is initialised (seeded) if absent.
SentenceEncoder load_hf_model(const std::string& model_dir, LoadReport* report = nullptr);

// Writes the HF + sentence-transformers directory (vocab copied from vocab_path). Pooler kCls
// adds a sentence-transformers Dense(tanh) module carrying the MLP; kAvgFirstLast has no
// sentence-transformers equivalent and is rejected.
void export_hf_model(SentenceEncoder& encoder, const std::string& vocab_path, Pooler eval_pooler,
                     const std::string& out_dir);

// Saves every parameter under its simcsepp name ("bert.*", "mlp.dense.*") in fp32: the weights
// half of a training checkpoint; load_hf_model reads a directory with this file + config.json.
void save_sentence_encoder_weights(SentenceEncoder& encoder, const std::string& path);

}  // namespace simcsepp::model
