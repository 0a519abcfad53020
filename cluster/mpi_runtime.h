// mpi_runtime.h - the process-wide MPI state: launcher detection, MPI_Init_thread once,
// topology discovery (shared-memory split for the local rank), job-wide abort, finalize.
//
// Internal to cluster/: the trainer goes through bootstrap.h. Tests with their own MPI-aware
// main call ensure_mpi_initialized() too (it accepts an MPI that is already initialised).
#pragma once

#include <string>

#include "cluster/topology.h"

namespace simcsepp::cluster {

// True when a launcher started this process (mpirun/mpiexec, srun with PMIx or PMI2).
bool launched_by_mpi_launcher();

// MPI_Init_thread(MPI_THREAD_MULTIPLE) unless MPI is already initialised. The watchdog thread
// may call MPI_Abort while the main thread blocks in a collective, hence MULTIPLE.
void ensure_mpi_initialized();
bool mpi_is_initialized();
// MPI_Finalize if we initialised MPI and it is not finalised yet.
void finalize_mpi();

// Rank/world from MPI_COMM_WORLD, local rank/size from MPI_Comm_split_type(SHARED), host from
// MPI_Get_processor_name; the local rank is cross-checked with the launcher's environment
// (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, MPI_LOCALRANKID). Requires MPI initialised.
Topology discover_mpi_topology();
// The topology of a process started without a launcher.
Topology single_process_topology();

// Log `reason` with rank and host, then MPI_Abort (or exit(1) without MPI). Never returns.
[[noreturn]] void abort_job(const std::string& reason);

// Seconds a collective may take before the job is aborted: SIMCSEPP_COLLECTIVE_TIMEOUT_S
// (default 600). Throws simcsepp::Error on a malformed value.
double collective_timeout_seconds();

}  // namespace simcsepp::cluster
