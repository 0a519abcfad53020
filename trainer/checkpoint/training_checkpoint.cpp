// training_checkpoint.cpp - see training_checkpoint.h.
#include "trainer/checkpoint/training_checkpoint.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "base/error.h"
#include "base/log.h"
#include "trainer/checkpoint/checkpoint_file.h"

namespace simcsepp::trainer {

namespace fs = std::filesystem;

namespace {

// Generator states as one uint8 row per rank (every rank's state has the same size).
torch::Tensor gather_rows(cluster::Communicator& comm, const torch::Tensor& state, torch::Device device) {
  auto local = state.reshape({1, -1}).to(device);
  return comm.all_gather(local).to(torch::kCPU);
}

std::vector<torch::Device> cuda_devices_in_use(torch::Device device) {
  if (device.is_cuda()) return {device};
  return {};
}

}  // namespace

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.rfind("step-", 0) == 0 && e.path().extension() == ".ckpt") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());  // zero-padded step numbers sort lexically
  return out;
}

std::string newest_valid_checkpoint(const std::string& dir) {
  auto files = list_checkpoints(dir);
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    std::string reason;
    if (verify_checkpoint_file(*it, &reason)) return *it;
    LOG_WARN("skipping corrupt checkpoint " << *it << ": " << reason);
  }
  return {};
}

std::string save_training_checkpoint(const std::string& dir, TrainStep& step, cluster::Communicator& comm,
                                     const TrainProgress& progress, const nlohmann::json& run_config, int keep,
                                     AsyncCheckpointWriter* background) {
  const auto device = step.device();
  NamedTensors tensors;
  for (const auto& item : step.encoder()->named_parameters()) tensors.emplace_back("model/" + item.key(), item.value());
  if (auto d = step.discriminator()) {  // DiffCSE: trained with the encoder, resumed with it
    for (const auto& item : d->named_parameters()) tensors.emplace_back("discriminator/" + item.key(), item.value());
  }
  const auto optim = step.optimizer().state();
  for (size_t i = 0; i < optim.size(); ++i) tensors.emplace_back("optim/" + std::to_string(i), optim[i]);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    tensors.emplace_back("rng/cpu", gather_rows(comm, gen.get_state(), device));
  }
  for (const auto& d : cuda_devices_in_use(device)) {
    auto gen = at::globalContext().defaultGenerator(d);
    std::lock_guard<std::mutex> lock(gen.mutex());
    tensors.emplace_back("rng/cuda", gather_rows(comm, gen.get_state(), device));
  }
  nlohmann::json meta = {{"format", "simcsepp-training-checkpoint"},
                         {"version", 1},
                         {"step", progress.step},
                         {"reader",
                          {{"seed", progress.reader.seed},
                           {"epoch", progress.reader.epoch},
                           {"step_in_epoch", progress.reader.step_in_epoch}}},
                         {"best_score", progress.best_score},
                         {"best_step", progress.best_step},
                         {"skipped_total", progress.skipped_total},
                         {"consecutive_skips", progress.consecutive_skips},
                         {"train_seconds", progress.train_seconds},
                         {"world_size", comm.world_size()},
                         {"layout_world_size",
                          progress.layout_world_size > 0 ? progress.layout_world_size : comm.world_size()},
                         {"layout_local_batch", progress.layout_local_batch},
                         {"global_rows_consumed", progress.global_rows_consumed},
                         {"total_steps", progress.total_steps},
                         {"config", run_config}};
  char name[32];
  std::snprintf(name, sizeof(name), "step-%08lld.ckpt", static_cast<long long>(progress.step));
  const std::string path = (fs::path(dir) / name).string();
  if (background) {
    if (comm.rank() == 0) background->submit({dir, path, std::move(meta), snapshot_tensors(tensors), keep});
    return path;  // the other ranks need nothing of the file; wait() makes it durable
  }
  if (comm.rank() == 0) write_and_rotate({dir, path, std::move(meta), std::move(tensors), keep});
  comm.barrier();  // no rank moves on (or exits) before the file is durable
  return path;
}

TrainProgress load_training_checkpoint(const std::string& path, TrainStep& step, cluster::Communicator& comm,
                                       nlohmann::json* run_config) {
  const auto ckpt = read_checkpoint_file(path);
  const auto& meta = ckpt.meta;
  if (meta.value("format", "") != "simcsepp-training-checkpoint") {
    throw Error("not a training checkpoint", path, "pass a file from <run-dir>/checkpoints");
  }
  const int world = meta.at("world_size").get<int>();
  const bool resharded = world != comm.world_size();
  {
    torch::NoGradGuard no_grad;
    for (auto& item : step.encoder()->named_parameters()) {
      const auto& name = item.key();
      auto& p = item.value();
      const auto& saved = ckpt.at("model/" + name);
      if (saved.sizes() != p.sizes()) {
        throw Error("tensor " + name + " has another shape in the checkpoint", path,
                    "the checkpoint belongs to another model; start a new run directory");
      }
      p.copy_(saved);
    }
    if (auto d = step.discriminator()) {
      for (auto& item : d->named_parameters()) {
        const std::string key = "discriminator/" + item.key();
        if (std::none_of(ckpt.tensors.begin(), ckpt.tensors.end(), [&](const auto& t) { return t.first == key; })) {
          throw Error("the checkpoint has no DiffCSE discriminator (" + key + ")", path,
                      "it was written by a run of another objective; resume with that objective or start a new run "
                      "directory");
        }
        item.value().copy_(ckpt.at(key));
      }
    }
  }
  std::vector<torch::Tensor> optim;
  for (size_t i = 0; i < step.optimizer().state().size(); ++i) optim.push_back(ckpt.at("optim/" + std::to_string(i)));
  step.optimizer().load_state(optim);
  const uint64_t reader_seed = meta.at("reader").at("seed").get<uint64_t>();
  const int64_t saved_step = meta.at("step").get<int64_t>();
  if (resharded) {
    // The saved streams belong to other ranks: each new rank gets a fresh stream, a function of
    // (seed, rank, step) so reruns of the same resume are reproducible (CPU and CUDA generators).
    torch::manual_seed(reader_seed + 1000003ULL * static_cast<uint64_t>(comm.rank()) +
                       0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(saved_step + 1));
  } else {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(ckpt.at("rng/cpu")[comm.rank()].clone());
  }
  if (step.device().is_cuda() && !resharded) {
    for (const auto& [name, t] : ckpt.tensors) {
      if (name != "rng/cuda") continue;
      auto gen = at::globalContext().defaultGenerator(step.device());
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(t[comm.rank()].clone());
    }
  }
  TrainProgress p;
  p.step = meta.at("step").get<int64_t>();
  p.reader.seed = meta.at("reader").at("seed").get<uint64_t>();
  p.reader.epoch = meta.at("reader").at("epoch").get<int64_t>();
  p.reader.step_in_epoch = meta.at("reader").at("step_in_epoch").get<int64_t>();
  p.layout_world_size = meta.value("layout_world_size", world);
  p.layout_local_batch = meta.value("layout_local_batch", int64_t{0});
  p.global_rows_consumed = meta.value("global_rows_consumed", int64_t{0});
  p.total_steps = meta.value("total_steps", int64_t{0});
  p.best_score = meta.at("best_score").get<double>();
  p.best_step = meta.at("best_step").get<int64_t>();
  p.skipped_total = meta.at("skipped_total").get<int64_t>();
  p.consecutive_skips = meta.at("consecutive_skips").get<int64_t>();
  p.train_seconds = meta.at("train_seconds").get<double>();
  if (run_config) *run_config = meta.at("config");
  step.set_updates(p.step);
  return p;
}

}  // namespace simcsepp::trainer
