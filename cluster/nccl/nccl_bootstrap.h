// nccl_bootstrap.h - the rendezvous of the NCCL communicator: rank `root` of `comm` asks NCCL for
// a ncclUniqueId (NCCL's bootstrap root then listens on the address the id carries, on the
// interface NCCL_SOCKET_IFNAME selects) and MPI_Bcast hands the id to every rank, which passes it
// to ncclCommInitRank. Needs no GPU, so it is tested on CPU across simulated hosts
// (tests/cluster/multinode/).
// Collective over `comm`. If NCCL cannot create the id, the job is aborted (abort_job) with
// NCCL's reason, as any other NCCL failure of the communicator. The broadcast runs under the
// collective timeout: a rank still waiting for the id after `timeout_s` seconds (the root never
// got there) aborts the job, naming itself and the root (tests/python/cluster_fault_test.py).
// timeout_s <= 0: no timeout.
#pragma once

#include <mpi.h>
#include <nccl.h>

namespace simcsepp::cluster {

ncclUniqueId broadcast_nccl_unique_id(MPI_Comm comm, int root, double timeout_s);

}  // namespace simcsepp::cluster
