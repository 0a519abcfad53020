// bootstrap.cpp - MPI start-up, device binding and the choice of communicator.
#include "cluster/bootstrap.h"

#include <torch/torch.h>

#include <cstdlib>

#include "base/error.h"
#include "base/log.h"
#include "cluster/mpi_communicator.h"
#include "cluster/mpi_runtime.h"
#include "cluster/single_process_communicator.h"
#include "simcsepp/build_config.h"

#if SIMCSEPP_HAVE_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif
#if SIMCSEPP_HAVE_NCCL
#include "cluster/nccl/nccl_communicator.h"
#endif

namespace simcsepp::cluster {

namespace {

bool cuda_usable() {
#if SIMCSEPP_HAVE_CUDA
  return torch::cuda::is_available();
#else
  return false;
#endif
}

// Local rank r uses GPU r modulo the visible GPUs (Slurm's --gpus-per-task leaves one visible).
c10::Device pick_device(const std::string& device, const Topology& t) {
  if (device != "auto" && device != "cpu" && device != "cuda") {
    throw Error("unknown device '" + device + "'", "--device", "use auto, cpu or cuda");
  }
  bool cuda = device == "cuda" || (device == "auto" && cuda_usable());
  if (!cuda) return c10::Device(c10::kCPU);
  if (!cuda_usable()) {
    throw Error("--device cuda but no CUDA device is usable here", "--device",
                "use --device cpu, or check CUDA_VISIBLE_DEVICES and the driver (nvidia-smi)");
  }
  int count = static_cast<int>(torch::cuda::device_count());
  if (t.local_size > count) {
    LOG_WARN(t.local_size << " ranks on " << t.host << " share " << count << " GPU(s)");
  }
  int index = t.local_rank % count;
#if SIMCSEPP_HAVE_CUDA
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(index));
#endif
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

std::string pick_backend(const std::string& backend, const Topology& t, const c10::Device& device) {
  if (backend == "auto") {
    if (t.world_size == 1) return "single";
    return device.is_cuda() ? "nccl" : "mpi";
  }
  if (backend == "single" && t.world_size > 1) {
    throw Error("--comm single in a job of " + std::to_string(t.world_size) + " ranks", "--comm",
                "use auto (or mpi/nccl) when launching with mpirun/srun");
  }
  if (backend == "nccl" && !device.is_cuda()) {
    throw Error("--comm nccl needs CUDA tensors but the device is " + device.str(), "--comm",
                "use --device cuda (or auto on a GPU node), or --comm mpi on CPU");
  }
  if (backend == "mpi" && device.is_cuda()) {
    throw Error("--comm mpi works on CPU tensors but the device is " + device.str(), "--comm",
                "use --comm nccl on GPUs, or --device cpu");
  }
  if (backend != "single" && backend != "nccl" && backend != "mpi") {
    throw Error("unknown communicator '" + backend + "'", "--comm", "use auto, mpi, nccl or single");
  }
  return backend;
}

}  // namespace

ClusterContext bootstrap_cluster(const std::string& backend, const std::string& device) {
  if (backend != "auto" && backend != "single" && backend != "nccl" && backend != "mpi") {
    throw Error("unknown communicator '" + backend + "'", "--comm", "use auto, mpi, nccl or single");
  }
  const bool use_mpi = launched_by_mpi_launcher() || backend == "mpi" || backend == "nccl";
  ClusterContext ctx;
  if (use_mpi) {
    ensure_mpi_initialized();
    ctx.topology = discover_mpi_topology();
  } else {
    ctx.topology = single_process_topology();
  }
  log::set_identity(ctx.topology.rank, ctx.topology.world_size, ctx.topology.host);
  ctx.device = pick_device(device, ctx.topology);
  const std::string chosen = pick_backend(backend, ctx.topology, ctx.device);
  const double timeout_s = collective_timeout_seconds();
  if (chosen == "single") {
    ctx.comm = std::make_unique<SingleProcessCommunicator>();
  } else if (chosen == "mpi") {
    ctx.comm = std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, timeout_s);
  } else {
#if SIMCSEPP_HAVE_NCCL
    ctx.comm = std::make_unique<NcclCommunicator>(MPI_COMM_WORLD, ctx.device.index(), timeout_s);
#else
    throw Error("this simcsepp was built without NCCL", "--comm",
                "rebuild on a machine with the CUDA toolkit and NCCL, or use --comm mpi --device cpu");
#endif
  }
  if (const char* force = std::getenv("SIMCSEPP_FORCE_COLLECTIVES"); force != nullptr && *force != '\0') {
    const std::string value = force;
    if (value != "0" && value != "1") {
      throw Error("SIMCSEPP_FORCE_COLLECTIVES='" + value + "' is not 0 or 1", "environment",
                  "unset it (production) or set 1 to force the multi-rank paths in a world of one (tests)");
    }
    if (value == "1") {
      ctx.comm->force_collectives_for_testing(true);
      LOG_WARN("cluster: SIMCSEPP_FORCE_COLLECTIVES=1 (test-only): gradient buckets and the autograd all-gather run "
               "through the " << ctx.comm->backend() << " communicator even at world size " << ctx.topology.world_size);
    }
  }
  LOG_INFO("cluster: " << describe(ctx.topology) << ", backend " << ctx.comm->backend() << ", device "
                       << ctx.device.str());
  return ctx;
}

void shutdown_cluster() { finalize_mpi(); }

}  // namespace simcsepp::cluster
