// inspect_command.cpp - `simcsepp inspect`: what this build and this machine offer (libtorch,
// CUDA devices, NCCL, MPI, HDF5, metrics server), so a user can check a node before a long job.
#include <H5public.h>
#include <mpi.h>
#include <torch/torch.h>

#include <iostream>

#include "simcsepp/build_config.h"
#include "cli/command.h"
#include "base/exit_codes.h"

#if SIMCSEPP_HAVE_NCCL
#include <dlfcn.h>
#include <nccl.h>
#endif

namespace simcsepp::cli {

namespace {

#if SIMCSEPP_HAVE_NCCL
// The libnccl.so.2 this process runs on (one per process, shared with libtorch_cuda) and its
// version: the check that the linked one (build_config.h) is the one loaded.
std::string loaded_nccl() {
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess) return "ncclGetVersion failed";
  Dl_info info{};
  const char* path = dladdr(reinterpret_cast<void*>(&ncclGetVersion), &info) && info.dli_fname ? info.dli_fname : "?";
  const int major = code / 10000, minor = code % 10000 / 100, patch = code % 100;  // NCCL >= 2.9 coding
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch) + " from " + path;
}
#endif

class InspectCommand final : public Command {
 public:
  std::string name() const override { return "inspect"; }
  std::string summary() const override { return "print build, library and device information"; }
  void add_options(po::options_description&) override {}

  int run() override {
    char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(mpi_version, &len);  // allowed before MPI_Init
    unsigned h5_major = 0, h5_minor = 0, h5_rel = 0;
    H5get_libversion(&h5_major, &h5_minor, &h5_rel);

    std::cout << "simcsepp " << SIMCSEPP_VERSION << "\n"
              << "  libtorch        " << TORCH_VERSION << "\n"
#if SIMCSEPP_HAVE_CUDA
              << "  CUDA build      yes\n"
#else
              << "  CUDA build      no\n"
#endif
#if SIMCSEPP_HAVE_NCCL
              << "  NCCL            " << SIMCSEPP_NCCL_VERSION << " linked from " << SIMCSEPP_NCCL_SOURCE << " ("
              << SIMCSEPP_NCCL_LIBRARY << ")\n"
              << "  NCCL loaded     " << loaded_nccl() << "\n"
              << "  NCCL of torch   " << SIMCSEPP_TORCH_NCCL_VERSION << " (libtorch_cuda was built with)\n"
#else
              << "  NCCL            not compiled (CPU collectives over MPI only)\n"
#endif
#if SIMCSEPP_HAVE_PROMETHEUS_CPP
              << "  /metrics server prometheus-cpp (civetweb)\n"
#else
              << "  /metrics server not compiled (JSONL metrics only)\n"
#endif
              << "  HDF5            " << h5_major << "." << h5_minor << "." << h5_rel << "\n"
              << "  MPI             " << std::string(mpi_version, strnlen(mpi_version, len)).substr(0, 60) << "\n";
    const bool cuda = torch::cuda::is_available();
    std::cout << "  CUDA devices    " << (cuda ? torch::cuda::device_count() : 0) << "\n"
              << "  CPU threads     " << at::get_num_threads() << "\n";
    return kExitOk;
  }
};

}  // namespace

std::unique_ptr<Command> make_inspect_command() { return std::make_unique<InspectCommand>(); }

}  // namespace simcsepp::cli
