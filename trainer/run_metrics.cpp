// run_metrics.cpp - see run_metrics.h.
#include "trainer/run_metrics.h"

#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>

#include "base/error.h"
#include "base/log.h"
#include "model/flop_count.h"
#include "monitoring/file_sd.h"
#include "simcsepp/build_config.h"
#include "trainer/train_options.h"
#if SIMCSEPP_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace simcsepp::trainer {

namespace {

constexpr int64_t kEndpointBytes = 256;

std::string default_run_id(const TrainOptions& o) {
  if (!o.run_id.empty()) return o.run_id;
  if (const char* job = std::getenv("SLURM_JOB_ID")) return std::string("slurm-") + job;
  return std::filesystem::path(o.run_dir).lexically_normal().filename().string();
}

// Every rank's string (at most kEndpointBytes - 1 bytes), in rank order. Uses the training
// communicator, so the tensor lives on the training device (NCCL needs CUDA tensors).
std::vector<std::string> all_gather_strings(cluster::Communicator& comm, c10::Device device, const std::string& s) {
  auto local = torch::zeros({kEndpointBytes}, torch::kUInt8);
  std::memcpy(local.data_ptr<uint8_t>(), s.data(), std::min<size_t>(s.size(), kEndpointBytes - 1));
  const auto all = comm.all_gather(local.to(device)).cpu().contiguous();
  std::vector<std::string> out;
  for (int r = 0; r < comm.world_size(); ++r) {
    const auto* p = reinterpret_cast<const char*>(all.data_ptr<uint8_t>()) + r * kEndpointBytes;
    out.emplace_back(p, strnlen(p, kEndpointBytes));
  }
  return out;
}

}  // namespace

RunMetrics::RunMetrics(const TrainOptions& o, cluster::Communicator& comm, const cluster::Topology& topology,
                       c10::Device device)
    : comm_(comm),
      file_sd_path_((std::filesystem::path(o.run_dir) / monitoring::kFileSdName).string()),
      writer_(comm.rank() == 0) {
  monitoring::MetricsOptions mo;
  mo.enabled = o.metrics;
  mo.bind_address = o.metrics_bind;
  mo.base_port = o.metrics_port;
  mo.local_rank = topology.local_rank;
  mo.rank = topology.rank;
  mo.world_size = topology.world_size;
  mo.host = topology.host;
  mo.run_id = default_run_id(o);
  try {
    metrics_ = std::make_unique<monitoring::TrainingMetrics>(mo);
  } catch (const Error& e) {
    LOG_WARN("metrics endpoint disabled on this rank: " << e.what());
    mo.enabled = false;
    metrics_ = std::make_unique<monitoring::TrainingMetrics>(mo);
  }
  // Collectives of a world of one move nothing; bandwidth is undefined there.
  if (comm.world_size() > 1) {
    listener_ = comm.add_collective_listener(
        [metrics = metrics_.get(), world = comm.world_size()](const cluster::CollectiveTiming& t) {
          metrics->record_collective(t.op, t.bytes, t.seconds, world);
        });
  }
  auto endpoints = all_gather_strings(comm, device, metrics_->endpoint());
  std::erase(endpoints, std::string());
  if (writer_ && o.metrics) {
    monitoring::write_file_sd(file_sd_path_, endpoints, metrics_->target_labels());
    LOG_INFO("metrics: " << endpoints.size() << " endpoint(s) announced in " << file_sd_path_);
  }
}

RunMetrics::~RunMetrics() {
  if (listener_ >= 0) comm_.remove_collective_listener(listener_);
}

void RunMetrics::close() {
  if (writer_ && std::filesystem::exists(file_sd_path_)) {
    monitoring::write_file_sd(file_sd_path_, {}, metrics_->target_labels());
  }
}

double peak_flops(const TrainOptions& o, torch::Device device, bool bf16) {
  if (o.peak_tflops > 0) return o.peak_tflops * 1e12;
#if SIMCSEPP_HAVE_CUDA
  if (device.is_cuda()) {
    const std::string name = at::cuda::getDeviceProperties(device.index())->name;
    const double peak = model::peak_flops_per_second(name, bf16);
    if (peak <= 0) LOG_WARN("no peak FLOP/s known for GPU '" << name << "': pass --peak-tflops to export MFU");
    return peak;
  }
#endif
  (void)device;
  (void)bf16;
  return 0.0;
}

}  // namespace simcsepp::trainer
