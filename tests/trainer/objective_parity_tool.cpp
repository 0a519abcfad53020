// objective_parity_tool.cpp - test helper driven by tests/python/objective_parity.py.
//
//   objective_parity_tool embeddings <dir>
// reads <dir>/spec.json (objective name and hyperparameters, view shapes) and <view>.f32 files,
// evaluates model::objective_loss with a single-process communicator, runs backward and writes
// <dir>/result.json (loss parts) and grad_<view>.f32 for every input view.
//   objective_parity_tool encoder <dir>
// loads spec.json's "model_dir" with load_hf_model, runs model::forward_objective on the token
// columns ids_<c>.i64 / mask_<c>.i64 (int64 [N, L]) with the spec's pooler, runs backward and
// writes result.json (loss parts, parameter names) and grad/<parameter name>.f32. Optional spec
// keys (tests/python/cuda_parity.py): "device" (cpu | cuda), "precision" (fp32 | bf16: one
// bf16 autocast region around the encoder calls, as in the trainer) and "write_outputs" (also hidden.f32 = last_hidden_state and
// pooled.f32 = the pooled embedding of column 0, without gradient). DiffCSE objectives also read
// "generator_dir", head_weight.f32 / head_bias.f32 (the discriminator's head; its BERT starts from
// model_dir) and masked.i64 ([2N, L], the masked copies), run every dropout off, and write the
// discriminator's gradients as grad/discriminator.<name>.f32 and replaced.f32. "projector":
// "batchnorm" adds the BatchNorm projector with the weights proj_up / proj_norm_weight /
// proj_norm_bias / proj_down .f32; "dtype": "float64" runs every module in double.
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cluster/single_process_communicator.h"
#include "model/autocast_scope.h"
#include "model/hf_checkpoint.h"
#include "model/objective.h"
#include "model/objective_forward.h"
#include "model/rtd_corruption.h"
#include "model/rtd_discriminator.h"
#include "model/rtd_loss.h"
#include "tests/trainer/raw_tensor_io.h"

using namespace simcsepp;

namespace {

model::ObjectiveConfig config_from(const nlohmann::json& spec) {
  auto cfg = model::parse_objective(spec.at("objective").get<std::string>());
  cfg.temperature = spec.value("temperature", cfg.temperature);
  cfg.pos_ratio = spec.value("pos_ratio", cfg.pos_ratio);
  cfg.dcl_weight = spec.value("dcl_weight", cfg.dcl_weight);
  cfg.dcl_temperature = spec.value("dcl_temperature", cfg.dcl_temperature);
  cfg.hard_negative_weight = spec.value("hard_negative_weight", cfg.hard_negative_weight);
  cfg.rtd_weight = spec.value("rtd_weight", cfg.rtd_weight);
  cfg.validate();
  return cfg;
}

int run_embeddings(const std::string& dir) {
  std::ifstream in(dir + "/spec.json");
  const auto spec = nlohmann::json::parse(in);
  const auto cfg = config_from(spec);
  std::map<std::string, torch::Tensor> views;
  for (const auto& [name, shape] : spec.at("views").items()) {
    views[name] = testing::read_f32(dir + "/" + name + ".f32", shape.get<std::vector<int64_t>>()).requires_grad_(true);
  }
  auto get = [&](const char* n) { return views.count(n) ? views[n] : torch::Tensor(); };
  model::ObjectiveViews v{get("anchor"),     get("positive"),     get("hard_negative"),
                          get("anchor_off"), get("positive_off"), get("hard_negative_off")};
  cluster::SingleProcessCommunicator comm;
  const auto loss = model::objective_loss(comm, cfg, v);
  loss.total.backward();
  nlohmann::json result = {{"objective", cfg.name()},
                           {"total", loss.total.item<double>()},
                           {"instance", loss.instance.item<double>()},
                           {"dcl", loss.dcl.item<double>()}};
  for (auto& [name, t] : views) {
    // A view the objective ignores has no gradient: report zeros, the oracle expects that too.
    testing::write_f32(dir + "/grad_" + name + ".f32", t.grad().defined() ? t.grad() : torch::zeros_like(t));
  }
  std::ofstream(dir + "/result.json") << result.dump(2);
  return 0;
}

torch::Tensor read_i64(const std::string& path, const std::vector<int64_t>& shape) {
  auto t = torch::empty(shape, torch::kLong);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(t.data_ptr<int64_t>()), t.numel() * sizeof(int64_t));
  if (!in) throw Error("short or missing int64 file", path, "was the Python side run first?");
  return t;
}

int run_encoder(const std::string& dir) {
  std::ifstream in(dir + "/spec.json");
  const auto spec = nlohmann::json::parse(in);
  const auto cfg = config_from(spec);
  auto encoder = model::load_hf_model(spec.at("model_dir").get<std::string>());
  if (spec.value("projector", "mlp") == "batchnorm") {
    // DiffCSE's BatchNorm projector with the oracle's weights (proj_*.f32).
    encoder->add_projector(0);
    torch::NoGradGuard no_grad;
    auto& p = *encoder->projector;
    const int64_t h = encoder->config().hidden_size;
    p.up->weight.copy_(testing::read_f32(dir + "/proj_up.f32", {2 * h, h}));
    p.norm_weight.copy_(testing::read_f32(dir + "/proj_norm_weight.f32", {2 * h}));
    p.norm_bias.copy_(testing::read_f32(dir + "/proj_norm_bias.f32", {2 * h}));
    p.down->weight.copy_(testing::read_f32(dir + "/proj_down.f32", {h, 2 * h}));
  }
  // "dtype": "float64" runs every module in double (the oracle does too): for ill-conditioned cases.
  const bool f64 = spec.value("dtype", "float32") == "float64";
  if (f64) encoder->to(torch::kDouble);
  const torch::Device device(spec.value("device", "cpu"));
  encoder->to(device);
  // bf16 as the trainer does it: one autocast region around the encoder calls, the loss in fp32
  // outside it (trainer/train_step.cpp).
  const bool bf16 = spec.value("precision", "fp32") == "bf16";
  encoder->train();
  const auto shape = spec.at("shape").get<std::vector<int64_t>>();
  std::vector<torch::Tensor> ids, masks;
  for (int c = 0; c < spec.at("columns").get<int>(); ++c) {
    ids.push_back(read_i64(dir + "/ids_" + std::to_string(c) + ".i64", shape).to(device));
    masks.push_back(read_i64(dir + "/mask_" + std::to_string(c) + ".i64", shape).to(device));
  }
  cluster::SingleProcessCommunicator comm;
  const auto pooler = model::parse_pooler(spec.value("pooler", "cls"));
  if (spec.value("write_outputs", false)) {
    torch::NoGradGuard no_grad;
    model::AutocastScope autocast(device.type(), bf16);
    testing::write_f32(dir + "/hidden.f32", encoder->last_hidden_state(ids[0], masks[0]));
    testing::write_f32(dir + "/pooled.f32", encoder->forward(ids[0], masks[0], pooler));
  }
  model::ObjectiveViews views;
  {
    model::AutocastScope autocast(device.type(), bf16);
    views = model::encode_views(encoder, cfg, pooler, ids, masks, &comm);
  }
  const auto loss = model::objective_loss(comm, cfg, views);
  auto total = loss.total;
  model::RtdDiscriminator discriminator{nullptr};
  double rtd_value = 0;
  if (cfg.rtd) {
    // DiffCSE: generator and discriminator from the spec, the masked copies fed as given, every
    // dropout off (the oracle is deterministic).
    auto generator = model::load_mlm_generator(spec.at("generator_dir").get<std::string>());
    discriminator = model::load_rtd_discriminator(spec.at("model_dir").get<std::string>(), 0);
    {
      torch::NoGradGuard no_grad;
      const int64_t h = discriminator->head->weight.size(1);
      discriminator->head->weight.copy_(testing::read_f32(dir + "/head_weight.f32", {2, h}));
      discriminator->head->bias.copy_(testing::read_f32(dir + "/head_bias.f32", {2}));
    }
    if (f64) {
      generator->to(torch::kDouble);
      discriminator->to(torch::kDouble);
    }
    const auto two_ids = torch::cat({ids[0], ids[0]}, 0);
    const auto two_mask = torch::cat({masks[0], masks[0]}, 0);
    const auto masked = read_i64(dir + "/masked.i64", {2 * shape[0], shape[1]});
    const auto edited = model::replace_tokens(generator, two_ids, two_mask, masked, false);
    const auto rtd = model::rtd_loss(comm, discriminator, edited, two_mask, torch::cat({views.anchor, views.positive}, 0),
                                     false);
    total = total + cfg.rtd_weight * rtd.loss;
    rtd_value = rtd.loss.item<double>();
    testing::write_f32(dir + "/replaced.f32", edited.replaced.to(torch::kFloat));
  }
  total.backward();
  std::filesystem::create_directories(dir + "/grad");
  nlohmann::json names = nlohmann::json::array();
  for (const auto& item : encoder->named_parameters()) {
    const auto& name = item.key();
    const auto& p = item.value();
    testing::write_f32(dir + "/grad/" + name + ".f32", p.grad().defined() ? p.grad() : torch::zeros_like(p));
    names.push_back(name);
  }
  nlohmann::json disc_names = nlohmann::json::array();
  if (discriminator) {
    for (const auto& item : discriminator->named_parameters()) {
      const auto& p = item.value();
      const std::string name = "discriminator." + item.key();
      testing::write_f32(dir + "/grad/" + name + ".f32", p.grad().defined() ? p.grad() : torch::zeros_like(p));
      disc_names.push_back(name);
    }
  }
  nlohmann::json result = {{"objective", cfg.name()},
                           {"total", total.item<double>()},
                           {"instance", loss.instance.item<double>()},
                           {"dcl", loss.dcl.item<double>()},
                           {"rtd", rtd_value},
                           {"parameters", names},
                           {"discriminator_parameters", disc_names}};
  std::ofstream(dir + "/result.json") << result.dump(2);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: objective_parity_tool embeddings|encoder <dir>\n";
    return 2;
  }
  try {
    const std::string mode = argv[1];
    if (mode == "embeddings") return run_embeddings(argv[2]);
    if (mode == "encoder") return run_encoder(argv[2]);
    std::cerr << "unknown mode " << mode << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "objective_parity_tool: " << e.what() << "\n";
    return 1;
  }
}
