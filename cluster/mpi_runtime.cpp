// mpi_runtime.cpp - MPI initialisation, topology discovery and job-wide abort.
#include "cluster/mpi_runtime.h"

#include <mpi.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include "base/error.h"
#include "base/log.h"

namespace simcsepp::cluster {

namespace {

bool g_we_initialized = false;
std::once_flag g_atexit_once;

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

int env_int(const char* name, int fallback) {
  const char* v = env(name);
  if (!v) return fallback;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  return (end && *end == '\0') ? static_cast<int>(x) : fallback;
}

// The local rank the launcher announced, or -1. SLURM_LOCALID is only trusted when SLURM_PROCID
// matches our MPI rank: under mpirun inside an sbatch script every rank inherits the batch
// step's SLURM_LOCALID=0.
int launcher_local_rank(int mpi_rank) {
  if (env("OMPI_COMM_WORLD_LOCAL_RANK")) return env_int("OMPI_COMM_WORLD_LOCAL_RANK", -1);
  if (env("MPI_LOCALRANKID")) return env_int("MPI_LOCALRANKID", -1);
  if (env("SLURM_LOCALID") && env_int("SLURM_PROCID", -1) == mpi_rank) return env_int("SLURM_LOCALID", -1);
  return -1;
}

}  // namespace

bool launched_by_mpi_launcher() {
  return env("OMPI_COMM_WORLD_SIZE") || env("PMIX_RANK") || env("PMI_RANK") || env("PMI_SIZE") ||
         (env("SLURM_STEP_ID") && env("SLURM_PROCID") && env("SLURM_NTASKS"));
}

bool mpi_is_initialized() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

void ensure_mpi_initialized() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return;
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
    throw Error("MPI_Init_thread failed", "MPI start-up",
                "start the job with mpirun/srun from the same MPI the binary was built with");
  }
  g_we_initialized = true;
  // MPI errors abort the job by default (MPI_ERRORS_ARE_FATAL); keep that: a failed collective
  // leaves the ranks out of step and there is nothing sensible to resume.
  if (provided < MPI_THREAD_MULTIPLE) {
    LOG_WARN("MPI provides thread level " << provided << " < MPI_THREAD_MULTIPLE: a collective "
                                          << "timeout may not be able to abort cleanly");
  }
  std::call_once(g_atexit_once, [] { std::atexit(finalize_mpi); });
}

void finalize_mpi() {
  if (g_we_initialized && mpi_is_initialized()) MPI_Finalize();
}

Topology discover_mpi_topology() {
  SIMCSEPP_CHECK(mpi_is_initialized(), "MPI must be initialised before topology discovery");
  Topology t;
  MPI_Comm_rank(MPI_COMM_WORLD, &t.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &t.world_size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, t.rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &t.local_rank);
  MPI_Comm_size(node, &t.local_size);
  MPI_Comm_free(&node);
  char name[MPI_MAX_PROCESSOR_NAME] = {0};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  t.host.assign(name, static_cast<size_t>(len));
  int announced = launcher_local_rank(t.rank);
  if (announced >= 0 && announced != t.local_rank) {
    LOG_WARN("local rank from the shared-memory split (" << t.local_rank << ") differs from the launcher's ("
                                                         << announced << ") on " << t.host << "; using the split's");
  }
  return t;
}

Topology single_process_topology() {
  Topology t;
  char name[256] = {0};
  gethostname(name, sizeof(name) - 1);
  t.host = name;
  return t;
}

void abort_job(const std::string& reason) {
  LOG_ERROR("aborting the job: " << reason << " (" << log::where_am_i() << ")");
  if (mpi_is_initialized()) MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

double collective_timeout_seconds() {
  const char* v = env("SIMCSEPP_COLLECTIVE_TIMEOUT_S");
  if (!v) return 600.0;
  char* end = nullptr;
  double s = std::strtod(v, &end);
  if (!end || *end != '\0' || !(s > 0)) {
    throw Error("bad collective timeout '" + std::string(v) + "'", "environment variable SIMCSEPP_COLLECTIVE_TIMEOUT_S",
                "give a positive number of seconds, e.g. SIMCSEPP_COLLECTIVE_TIMEOUT_S=600");
  }
  return s;
}

}  // namespace simcsepp::cluster
