// cuda_graph_update.cpp - see cuda_graph_update.h.
#include "trainer/cuda_graph_update.h"

#include "base/error.h"
#include "model/dropout_masks.h"
#include "simcsepp/build_config.h"
#if SIMCSEPP_HAVE_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace simcsepp::trainer {

std::string cuda_graph_blocker(const TrainStepConfig& config, const cluster::Communicator& comm, torch::Device device) {
  if (!SIMCSEPP_HAVE_CUDA) return "this build has no CUDA";
  if (!device.is_cuda()) return "the step runs on " + device.str() + " (CUDA graphs are a CUDA feature)";
  if (comm.backend() == "mpi") return "the MPI communicator's collectives run on the host (a graph captures NCCL's)";
  if (config.objective.rtd) return "DiffCSE draws its replaced-token masks on the host every update";
  if (config.chunk_size > 0) return "gradient caching (--chunk-size) loops over chunks on the host";
  if (config.cuda_graph_warmup < 1) return "--cuda-graphs needs at least one eager warm-up update";
  return "";
}

#if SIMCSEPP_HAVE_CUDA

namespace {

bool same_shapes(const UpdateInputs& a, const UpdateInputs& b) {
  if (a.ids.size() != b.ids.size()) return false;
  for (size_t m = 0; m < a.ids.size(); ++m) {
    if (a.ids[m].size() != b.ids[m].size()) return false;
    for (size_t c = 0; c < a.ids[m].size(); ++c) {
      if (a.ids[m][c].sizes() != b.ids[m][c].sizes() || a.masks[m][c].sizes() != b.masks[m][c].sizes()) return false;
    }
  }
  return true;
}

}  // namespace

struct CapturedUpdate::Impl {
  explicit Impl(torch::Device device) : device(device), side(c10::cuda::getStreamFromPool(false, device.index())) {}
  torch::Device device;
  c10::cuda::CUDAStream side;
  std::unique_ptr<at::cuda::CUDAGraph> graph;
  UpdateInputs inputs;  // the static buffers the graph reads
  torch::Tensor anchor;  // the graph's output (its private pool: rewritten by every replay)
  // StreamScope's fork and join, made once: re-recording an event is what each step needs.
  at::cuda::CUDAEvent entered{cudaEventDisableTiming}, left{cudaEventDisableTiming};
};

struct CapturedUpdate::StreamScope::State {
  State(Impl& impl, c10::cuda::CUDAStream ambient) : impl(impl), ambient(ambient), guard(impl.side) {}
  Impl& impl;
  c10::cuda::CUDAStream ambient;
  c10::cuda::CUDAStreamGuard guard;
};

CapturedUpdate::StreamScope::StreamScope(CapturedUpdate& update) {
  Impl& g = *update.impl_;
  const auto ambient = c10::cuda::getCurrentCUDAStream(g.device.index());
  g.entered.record(ambient);
  g.entered.block(g.side);
  state_ = std::make_unique<State>(g, ambient);
}

CapturedUpdate::StreamScope::~StreamScope() {
  state_->impl.left.record(state_->impl.side);
  state_->impl.left.block(state_->ambient);
}

CapturedUpdate::CapturedUpdate(torch::Device device, int64_t warmup)
    : impl_(std::make_unique<Impl>(device)), warmup_(warmup) {
  SIMCSEPP_CHECK(device.is_cuda() && warmup >= 1, "CapturedUpdate needs a CUDA device and warmup >= 1");
}

CapturedUpdate::~CapturedUpdate() = default;

bool CapturedUpdate::captured() const { return impl_->graph != nullptr; }

torch::Tensor CapturedUpdate::run(const UpdateInputs& inputs, const Body& body) {
  Impl& g = *impl_;
  const bool warming = eager_ + replays_ < warmup_;
  if (warming || model::keyed_dropout_active() || (g.graph && !same_shapes(inputs, g.inputs))) {
    ++eager_;
    return body(inputs, false);
  }
  if (!g.graph) {
    g.inputs.ids.clear();
    g.inputs.masks.clear();
    for (size_t m = 0; m < inputs.ids.size(); ++m) {
      g.inputs.ids.emplace_back();
      g.inputs.masks.emplace_back();
      for (size_t c = 0; c < inputs.ids[m].size(); ++c) {
        g.inputs.ids[m].push_back(inputs.ids[m][c].clone());
        g.inputs.masks[m].push_back(inputs.masks[m][c].clone());
      }
    }
    // Nothing in flight while capturing, and the warm-up's cached blocks handed back so the
    // graph's private pool does not sit beside them.
    c10::cuda::device_synchronize();
    c10::cuda::CUDACachingAllocator::emptyCache();
    auto graph = std::make_unique<at::cuda::CUDAGraph>();
    try {
      graph->capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
      try {
        g.anchor = body(g.inputs, true);
      } catch (...) {
        try {
          graph->capture_end();
        } catch (...) {
        }
        throw;
      }
      graph->capture_end();
    } catch (const std::exception& e) {
      g.anchor = torch::Tensor();
      throw Error(std::string("capturing the update into a CUDA graph failed: ") + e.what(), "--cuda-graphs",
                  "run with --cuda-graphs off (the eager step), and report this with the log");
    }
    g.graph = std::move(graph);
  } else {
    for (size_t m = 0; m < inputs.ids.size(); ++m) {
      for (size_t c = 0; c < inputs.ids[m].size(); ++c) {
        g.inputs.ids[m][c].copy_(inputs.ids[m][c], /*non_blocking=*/true);
        g.inputs.masks[m][c].copy_(inputs.masks[m][c], /*non_blocking=*/true);
      }
    }
  }
  g.graph->replay();
  ++replays_;
  return g.anchor;
}

#else  // no CUDA: cuda_graph_blocker() keeps TrainStep from constructing one

struct CapturedUpdate::Impl {};
struct CapturedUpdate::StreamScope::State {};

CapturedUpdate::StreamScope::StreamScope(CapturedUpdate&) {}
CapturedUpdate::StreamScope::~StreamScope() = default;

CapturedUpdate::CapturedUpdate(torch::Device, int64_t warmup) : warmup_(warmup) {
  throw Error("--cuda-graphs in a build without CUDA", "--cuda-graphs", "rebuild with a CUDA toolkit, or --cuda-graphs off");
}

CapturedUpdate::~CapturedUpdate() = default;

bool CapturedUpdate::captured() const { return false; }

torch::Tensor CapturedUpdate::run(const UpdateInputs& inputs, const Body& body) { return body(inputs, false); }

#endif

}  // namespace simcsepp::trainer
