// nccl_bootstrap.cpp - see nccl_bootstrap.h.
#include "cluster/nccl/nccl_bootstrap.h"

#include <memory>
#include <sstream>
#include <string>

#include "cluster/collective_watchdog.h"
#include "cluster/mpi_runtime.h"

namespace simcsepp::cluster {

ncclUniqueId broadcast_nccl_unique_id(MPI_Comm comm, int root, double timeout_s) {
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
  // Its own clock and watchdog: this runs before (and without) any communicator, and a blocked
  // MPI_Bcast cannot be interrupted otherwise.
  InFlightClock clock;
  std::unique_ptr<CollectiveWatchdog> watchdog;
  if (timeout_s > 0) {
    const std::string who = rank == root ? "another rank" : "rank " + std::to_string(root);
    watchdog = std::make_unique<CollectiveWatchdog>(
        std::chrono::milliseconds(100),
        [&clock, timeout_s, root, who]() -> std::string {
          if (clock.overdue(timeout_s).empty()) return {};
          std::ostringstream os;
          os << "the broadcast of the NCCL unique id from rank " << root << " (MPI_Bcast) has not completed after "
             << timeout_s << " s: " << who
             << " never reached the NCCL bootstrap (dead, stuck, or failed before it). HINT: read the log of " << who
             << " for its first error; raise SIMCSEPP_COLLECTIVE_TIMEOUT_S only if start-up legitimately takes "
                "that long";
          return os.str();
        },
        [](const std::string& failure) { abort_job(failure); });
  }
  {
    InFlightScope scope(clock, "MPI_Bcast(ncclUniqueId)", sizeof(id));
    MPI_Bcast(&id, sizeof(id), MPI_BYTE, root, comm);
  }
  return id;
}

}  // namespace simcsepp::cluster
