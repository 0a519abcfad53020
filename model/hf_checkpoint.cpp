// hf_checkpoint.cpp - load a Hugging Face BERT directory into a SentenceEncoder; export one back.
#include "model/hf_checkpoint.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "base/remove_tree.h"
#include "model/safetensors_file.h"

namespace simcsepp::model {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMlpInPoolerKey = "simcsepp_mlp_in_pooler";

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

nlohmann::json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open file", path.string(), "check the model directory");
  nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) throw Error("invalid JSON", path.string(), "fix or regenerate the file");
  return json;
}

void write_json_file(const fs::path& path, const nlohmann::json& json) {
  std::ofstream out(path, std::ios::trunc);
  out << json.dump(2) << "\n";
  if (!out) throw Error("cannot write file", path.string(), "check that the output directory is writable");
}

// pytorch_model.bin (torch.save zip of a state dict) through libtorch's unpickler.
std::map<std::string, at::Tensor> read_pytorch_bin(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open file", path.string(), "check permissions");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::map<std::string, at::Tensor> tensors;
  try {
    const auto value = torch::pickle_load(bytes);
    for (const auto& item : value.toGenericDict()) tensors.emplace(item.key().toStringRef(), item.value().toTensor());
  } catch (const c10::Error& e) {
    throw Error(std::string("cannot unpickle the state dict: ") + e.what_without_backtrace(), path.string(),
                "convert it to safetensors (python: safetensors.torch.save_file(torch.load(f), 'model.safetensors'))");
  }
  return tensors;
}

// Maps a checkpoint key to the simcsepp parameter name, or "" for keys we do not use.
std::string parameter_name_for(const std::string& key, bool mlp_in_pooler) {
  if (starts_with(key, "mlp.")) return key;
  std::string rest = starts_with(key, "bert.") ? key.substr(5) : key;
  // Old TF-converted checkpoints name LayerNorm parameters gamma/beta.
  if (rest.size() > 6 && rest.ends_with(".gamma")) rest = rest.substr(0, rest.size() - 6) + ".weight";
  if (rest.size() > 5 && rest.ends_with(".beta")) rest = rest.substr(0, rest.size() - 5) + ".bias";
  if (starts_with(rest, "pooler.dense.")) return mlp_in_pooler ? "mlp.dense." + rest.substr(13) : "";
  if (starts_with(rest, "embeddings.") || starts_with(rest, "encoder.")) return "bert." + rest;
  return "";
}

std::string joined(const std::vector<std::string>& names, size_t limit = 8) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < limit; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > limit) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

}  // namespace

SentenceEncoder load_hf_model(const std::string& model_dir, LoadReport* report) {
  const fs::path dir(model_dir);
  if (!fs::is_directory(dir)) {
    throw Error("not a directory", model_dir, "pass a Hugging Face model directory (config.json + model.safetensors)");
  }
  const fs::path config_path = dir / "config.json";
  const nlohmann::json config_json = read_json_file(config_path);
  const BertConfig config = BertConfig::from_json(config_json, config_path.string());
  const bool mlp_in_pooler = config_json.value(kMlpInPoolerKey, false);

  LoadReport local;
  LoadReport& r = report ? *report : local;
  r = LoadReport{};
  std::map<std::string, at::Tensor> tensors;
  if (fs::exists(dir / "model.safetensors")) {
    r.weights_file = (dir / "model.safetensors").string();
    tensors = read_safetensors(r.weights_file).tensors;
  } else if (fs::exists(dir / "pytorch_model.bin")) {
    r.weights_file = (dir / "pytorch_model.bin").string();
    tensors = read_pytorch_bin(r.weights_file);
  } else {
    throw Error("no model.safetensors or pytorch_model.bin", model_dir,
                fs::exists(dir / "model.safetensors.index.json")
                    ? "sharded checkpoints are not supported; merge the shards into one model.safetensors"
                    : "is this a Hugging Face model directory?");
  }

  SentenceEncoder encoder(config);
  auto params = encoder->named_parameters(/*recurse=*/true);
  std::map<std::string, std::string> source_of;  // parameter -> checkpoint key it came from
  torch::NoGradGuard no_grad;
  for (const auto& [key, tensor] : tensors) {
    const std::string name = parameter_name_for(key, mlp_in_pooler);
    auto* param = name.empty() ? nullptr : params.find(name);
    if (!param) {
      r.unexpected.push_back(key);
      const std::string bert_model_key = starts_with(key, "bert.") ? key.substr(5) : key;
      if (!bert_model_key.ends_with("position_ids") && !bert_model_key.ends_with("token_type_ids")) {
        r.carried.emplace(bert_model_key, tensor);
      }
      continue;
    }
    const std::string where = r.weights_file + ": tensor '" + key + "'";
    if (auto [it, fresh] = source_of.emplace(name, key); !fresh) {
      throw Error("tensor also present as '" + it->second + "'", where, "the checkpoint has two copies of " + name);
    }
    if (!tensor.is_floating_point()) {
      throw Error(std::string("dtype ") + c10::toString(tensor.scalar_type()) + " is not a float type", where,
                  "weights must be F32, F16 or BF16");
    }
    if (tensor.sizes() != param->sizes()) {
      throw Error("shape " + c10::str(tensor.sizes()) + " does not match " + c10::str(param->sizes()) +
                      " expected from config.json",
                  where, "config.json and the weights disagree (vocab_size, hidden_size, ...?)");
    }
    param->copy_(tensor.to(torch::kFloat32));
  }

  std::vector<std::string> missing_encoder;
  for (const auto& item : params) {
    if (source_of.count(item.key())) continue;
    r.missing.push_back(item.key());
    if (!starts_with(item.key(), "mlp.")) missing_encoder.push_back(item.key());
  }
  if (!missing_encoder.empty()) {
    throw Error("encoder weights missing: " + joined(missing_encoder), r.weights_file,
                "the file is not a complete BERT checkpoint for this config.json");
  }
  r.mlp_initialised = !r.missing.empty();
  if (r.mlp_initialised) encoder->reset_mlp(kDefaultMlpSeed);  // SimCSE starts the MLP fresh
  if (!r.unexpected.empty()) LOG_INFO("checkpoint tensors not used: " << joined(r.unexpected));
  if (!r.missing.empty()) LOG_INFO("initialised (seed " << kDefaultMlpSeed << "): " << joined(r.missing));
  return encoder;
}

void save_sentence_encoder_weights(SentenceEncoder& encoder, const std::string& path) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& item : encoder->named_parameters(true)) {
    if (starts_with(item.key(), "projector.")) continue;  // training only (DiffCSE's BatchNorm projector)
    tensors.emplace_back(item.key(), item.value().to(torch::kFloat32));
  }
  write_safetensors(path, tensors);
}

bool is_replaceable_export_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  if (!fs::is_directory(dir, ec)) return false;
  if (fs::directory_iterator(dir, ec) == fs::directory_iterator()) return true;
  const fs::path config = fs::path(dir) / "config.json";
  if (!fs::is_regular_file(config, ec)) return false;
  std::ifstream in(config);
  const auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return json.is_object() && json.contains("simcsepp_pooler");
}

void export_hf_model(SentenceEncoder& encoder, const std::string& vocab_path, Pooler eval_pooler,
                     const std::string& out_dir, const LoadReport* source, bool mlp_trained) {
  if (eval_pooler == Pooler::kAvgFirstLast) {
    throw Error("pooler avg_first_last cannot be expressed as a sentence-transformers pipeline", "--pooler",
                "export with --pooler cls_before_pooler, avg or cls");
  }
  fs::path final_out = fs::absolute(fs::path(out_dir)).lexically_normal();
  if (final_out.filename().empty()) final_out = final_out.parent_path();  // "out/"
  if (!is_replaceable_export_dir(final_out.string())) {
    throw Error("output directory holds files that are not an earlier simcsepp export", out_dir,
                "export into a new or empty directory; nothing in this one was changed");
  }
  const BertConfig& config = encoder->config();
  // Everything goes to a sibling first and is swapped in at the end: a failed export leaves the
  // previous one (or nothing) in place, never a mix.
  const fs::path out = final_out.parent_path() / ("." + final_out.filename().string() + ".export-tmp");
  std::error_code ec;
  remove_tree(out);
  fs::create_directories(out / "1_Pooling", ec);
  if (ec) throw Error("cannot create directory: " + ec.message(), out.string(), "check the output path");

  // Vocabulary first: its size must fit the embedding matrix, or token ids would index past it.
  std::ifstream vocab(vocab_path);
  if (!vocab) throw Error("cannot open vocabulary", vocab_path, "pass the vocab.txt the model was trained with");
  int64_t vocab_lines = 0;
  for (std::string line; std::getline(vocab, line);) ++vocab_lines;
  if (vocab_lines > config.vocab_size || vocab_lines == 0) {
    throw Error(
        std::to_string(vocab_lines) + " tokens, but the model has vocab_size " + std::to_string(config.vocab_size),
        vocab_path, "use the vocabulary of the model's checkpoint");
  }
  const fs::path vocab_out = out / "vocab.txt";
  if (!fs::exists(vocab_out) || !fs::equivalent(vocab_path, vocab_out)) {
    fs::copy_file(vocab_path, vocab_out, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error("cannot copy vocabulary: " + ec.message(), vocab_out.string(), "check the output directory");
  }
  // Casing follows the tokenizer the vocabulary came with (uncased BERT unless it says otherwise).
  bool lower_case = true;
  if (const fs::path source_tok = fs::path(vocab_path).parent_path() / "tokenizer_config.json";
      fs::exists(source_tok)) {
    lower_case = read_json_file(source_tok).value("do_lower_case", true);
  }

  // Weights: BertModel layout (no prefix), the MLP as HF's pooler - unless the MLP is an
  // untrained initialisation and the source has a pooler of its own, which then stays.
  const bool keep_source_pooler = source && source->mlp_initialised && !mlp_trained &&
                                  source->carried.count("pooler.dense.weight") &&
                                  source->carried.count("pooler.dense.bias");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  std::set<std::string> written;
  for (const auto& item : encoder->named_parameters(true)) {
    const std::string& name = item.key();
    if (starts_with(name, "projector.")) continue;  // training only, never exported
    const std::string key = starts_with(name, "bert.")        ? name.substr(5)
                            : starts_with(name, "mlp.dense.") ? "pooler.dense." + name.substr(10)
                                                              : "";
    SIMCSEPP_CHECK(!key.empty(), "unexpected parameter " + name);
    if (keep_source_pooler && starts_with(key, "pooler.")) continue;
    tensors.emplace_back(key, item.value().to(torch::kFloat32));
    written.insert(key);
  }
  if (source) {
    for (const auto& [key, tensor] : source->carried) {
      if (written.count(key)) continue;
      if (starts_with(key, "pooler.") && !keep_source_pooler) continue;  // replaced by the trained head
      tensors.emplace_back(key, tensor);  // unchanged: values and dtype
    }
  }
  write_safetensors((out / "model.safetensors").string(), tensors);

  nlohmann::json config_json = config.to_json();
  config_json[kMlpInPoolerKey] = !keep_source_pooler;
  config_json["simcsepp_pooler"] = pooler_name(eval_pooler);
  write_json_file(out / "config.json", config_json);

  const nlohmann::json special = {{"cls_token", "[CLS]"},
                                  {"mask_token", "[MASK]"},
                                  {"pad_token", "[PAD]"},
                                  {"sep_token", "[SEP]"},
                                  {"unk_token", "[UNK]"}};
  write_json_file(out / "special_tokens_map.json", special);
  nlohmann::json tokenizer = special;
  tokenizer.update({{"tokenizer_class", "BertTokenizer"},
                    {"do_lower_case", lower_case},
                    {"do_basic_tokenize", true},
                    {"tokenize_chinese_chars", true},
                    {"strip_accents", nullptr},
                    {"clean_up_tokenization_spaces", true},
                    {"model_max_length", config.max_position_embeddings}});
  write_json_file(out / "tokenizer_config.json", tokenizer);

  // sentence-transformers: Transformer -> Pooling [-> Dense(tanh) for the MLP pooler].
  nlohmann::json modules = nlohmann::json::array({
      {{"idx", 0}, {"name", "0"}, {"path", ""}, {"type", "sentence_transformers.models.Transformer"}},
      {{"idx", 1}, {"name", "1"}, {"path", "1_Pooling"}, {"type", "sentence_transformers.models.Pooling"}},
  });
  const bool mean = eval_pooler == Pooler::kAvg;
  write_json_file(out / "1_Pooling" / "config.json", {{"word_embedding_dimension", config.hidden_size},
                                                      {"pooling_mode_cls_token", !mean},
                                                      {"pooling_mode_mean_tokens", mean},
                                                      {"pooling_mode_max_tokens", false},
                                                      {"pooling_mode_mean_sqrt_len_tokens", false},
                                                      {"pooling_mode_weightedmean_tokens", false},
                                                      {"pooling_mode_lasttoken", false},
                                                      {"include_prompt", true}});
  if (eval_pooler == Pooler::kCls) {
    fs::create_directories(out / "2_Dense", ec);
    if (ec)
      throw Error("cannot create directory: " + ec.message(), (out / "2_Dense").string(), "check the output path");
    modules.push_back({{"idx", 2}, {"name", "2"}, {"path", "2_Dense"}, {"type", "sentence_transformers.models.Dense"}});
    write_json_file(out / "2_Dense" / "config.json", {{"in_features", config.hidden_size},
                                                      {"out_features", config.hidden_size},
                                                      {"bias", true},
                                                      {"activation_function", "torch.nn.modules.activation.Tanh"}});
    write_safetensors((out / "2_Dense" / "model.safetensors").string(),
                      {{"linear.weight", encoder->mlp->dense->weight.to(torch::kFloat32)},
                       {"linear.bias", encoder->mlp->dense->bias.to(torch::kFloat32)}});
  }
  write_json_file(out / "modules.json", modules);
  write_json_file(out / "sentence_bert_config.json",
                  {{"max_seq_length", config.max_position_embeddings}, {"do_lower_case", false}});
  write_json_file(
      out / "config_sentence_transformers.json",
      {{"prompts", nlohmann::json::object()}, {"default_prompt_name", nullptr}, {"similarity_fn_name", "cosine"}});
  // Swap in: the old export (if any) moves aside, the new one takes its name, the old goes.
  const fs::path old = final_out.parent_path() / ("." + final_out.filename().string() + ".export-old");
  remove_tree(old);
  if (fs::exists(final_out)) {
    fs::rename(final_out, old, ec);
    if (ec) throw Error("cannot replace the earlier export: " + ec.message(), out_dir, "check permissions");
  }
  fs::rename(out, final_out, ec);
  if (ec) throw Error("cannot move the export into place: " + ec.message(), out_dir, "check permissions");
  remove_tree(old);
  LOG_INFO("exported " << pooler_name(eval_pooler) << " sentence encoder to " << out_dir);
}

}  // namespace simcsepp::model
