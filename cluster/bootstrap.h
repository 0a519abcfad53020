// bootstrap.h - start-up of the distributed side of a simcsepp process.
//
// bootstrap_cluster() initialises MPI once when the process was started by a launcher (mpirun,
// srun with PMIx/PMI2), discovers the topology, sets the log identity, picks the device (each
// local rank binds GPU local_rank) and builds the Communicator:
//   backend "auto":   NCCL when the device is CUDA and world > 1; MPI on CPU when world > 1;
//                     the single-process communicator when world == 1.
//           "mpi" | "nccl" | "single": forced (errors if impossible, e.g. nccl without a GPU).
//   device  "auto":   CUDA when available, else CPU; "cpu"; "cuda".
// Collectives that do not complete within the timeout (SIMCSEPP_COLLECTIVE_TIMEOUT_S, default
// 600 s) abort the whole job with rank and host in the message instead of hanging.
// Test-only: SIMCSEPP_FORCE_COLLECTIVES=1 makes a world of one take the multi-rank paths
// (Communicator::runs_collectives), e.g. the device check's 1-GPU NCCL run; "0"/unset: off.
// Call from the main thread, once; shutdown_cluster() finalises MPI (idempotent, also at exit).
#pragma once

#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "cluster/communicator.h"
#include "cluster/topology.h"

namespace simcsepp::cluster {

struct ClusterContext {
  Topology topology;
  std::unique_ptr<Communicator> comm;
  c10::Device device{c10::kCPU};
};

ClusterContext bootstrap_cluster(const std::string& backend, const std::string& device);
void shutdown_cluster();

}  // namespace simcsepp::cluster
