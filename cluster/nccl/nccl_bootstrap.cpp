// nccl_bootstrap.cpp - see nccl_bootstrap.h.
#include "cluster/nccl/nccl_bootstrap.h"

#include <string>

#include "cluster/mpi_runtime.h"

namespace simcsepp::cluster {

ncclUniqueId broadcast_nccl_unique_id(MPI_Comm comm, int root) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  ncclUniqueId id{};
  if (rank == root) {
    const ncclResult_t r = ncclGetUniqueId(&id);
    if (r != ncclSuccess) {
      // The other ranks wait in the broadcast below: only ending the job frees them.
      abort_job(std::string("ncclGetUniqueId failed: ") + ncclGetErrorString(r) +
                ". HINT: NCCL_DEBUG=WARN shows why; NCCL_SOCKET_IFNAME picks the interface");
    }
  }
  MPI_Bcast(&id, sizeof(id), MPI_BYTE, root, comm);
  return id;
}

}  // namespace simcsepp::cluster
