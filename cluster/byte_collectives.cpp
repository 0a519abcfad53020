// byte_collectives.cpp - all-gather and all-to-all of byte strings over MPI (see byte_collectives.h).
#include "cluster/byte_collectives.h"

#include <mpi.h>

#include <algorithm>
#include <cstdint>

#include "base/log.h"
#include "cluster/mpi_runtime.h"

namespace simcsepp::cluster {

namespace {

MPI_Comm comm_of(void* p) { return *static_cast<MPI_Comm*>(p); }

}  // namespace

std::unique_ptr<ByteCollectives> ByteCollectives::from_launcher() {
  if (!launched_by_mpi_launcher()) return nullptr;
  ensure_mpi_initialized();
  std::unique_ptr<ByteCollectives> c(new ByteCollectives);
  c->topology_ = discover_mpi_topology();
  simcsepp::log::set_identity(c->topology_.rank, c->topology_.world_size, c->topology_.host);
  auto* comm = new MPI_Comm;
  MPI_Comm_dup(MPI_COMM_WORLD, comm);
  c->comm_ = comm;
  return c;
}

ByteCollectives::~ByteCollectives() {
  if (comm_) {
    if (mpi_is_initialized()) MPI_Comm_free(static_cast<MPI_Comm*>(comm_));
    delete static_cast<MPI_Comm*>(comm_);
  }
}

std::vector<std::string> ByteCollectives::all_gather(const std::string& mine) {
  std::vector<std::string> to(static_cast<size_t>(topology_.world_size), mine);
  return all_to_all(std::move(to));
}

std::vector<std::string> ByteCollectives::all_to_all(std::vector<std::string> to) {
  const MPI_Comm comm = comm_of(comm_);
  const int world = topology_.world_size;
  std::vector<int64_t> send_sizes(static_cast<size_t>(world)), recv_sizes(static_cast<size_t>(world));
  for (int d = 0; d < world; ++d) send_sizes[static_cast<size_t>(d)] = static_cast<int64_t>(to[static_cast<size_t>(d)].size());
  MPI_Alltoall(send_sizes.data(), 1, MPI_INT64_T, recv_sizes.data(), 1, MPI_INT64_T, comm);
  std::vector<std::string> from(static_cast<size_t>(world));
  for (int s = 0; s < world; ++s) from[static_cast<size_t>(s)].resize(static_cast<size_t>(recv_sizes[static_cast<size_t>(s)]));
  int64_t longest = 0;
  for (int d = 0; d < world; ++d) longest = std::max({longest, send_sizes[static_cast<size_t>(d)], recv_sizes[static_cast<size_t>(d)]});
  int64_t global_longest = 0;
  MPI_Allreduce(&longest, &global_longest, 1, MPI_INT64_T, MPI_MAX, comm);
  // Rounds of at most `piece` bytes per pair (every rank runs the same number of rounds), so the
  // int counts and displacements of MPI_Alltoallv stay below 2^31 in total.
  const int64_t piece = std::max<int64_t>(int64_t{1} << 20, (int64_t{1} << 30) / world);
  std::vector<int> sc(static_cast<size_t>(world)), sd(static_cast<size_t>(world)), rc(static_cast<size_t>(world)),
      rd(static_cast<size_t>(world));
  std::vector<char> sendbuf, recvbuf;
  for (int64_t at = 0; at < std::max<int64_t>(global_longest, 1); at += piece) {
    sendbuf.clear();
    int64_t rtotal = 0;
    for (int d = 0; d < world; ++d) {
      const auto& s = to[static_cast<size_t>(d)];
      const int64_t n = std::clamp<int64_t>(static_cast<int64_t>(s.size()) - at, 0, piece);
      sd[static_cast<size_t>(d)] = static_cast<int>(sendbuf.size());
      sc[static_cast<size_t>(d)] = static_cast<int>(n);
      sendbuf.insert(sendbuf.end(), s.data() + std::min<int64_t>(at, static_cast<int64_t>(s.size())),
                     s.data() + std::min<int64_t>(at, static_cast<int64_t>(s.size())) + n);
      const int64_t r = std::clamp<int64_t>(recv_sizes[static_cast<size_t>(d)] - at, 0, piece);
      rd[static_cast<size_t>(d)] = static_cast<int>(rtotal);
      rc[static_cast<size_t>(d)] = static_cast<int>(r);
      rtotal += r;
    }
    recvbuf.resize(static_cast<size_t>(std::max<int64_t>(rtotal, 1)));
    sendbuf.reserve(1);
    MPI_Alltoallv(sendbuf.data(), sc.data(), sd.data(), MPI_CHAR, recvbuf.data(), rc.data(), rd.data(), MPI_CHAR, comm);
    for (int s = 0; s < world; ++s) {
      if (rc[static_cast<size_t>(s)] > 0) {
        std::copy_n(recvbuf.data() + rd[static_cast<size_t>(s)], rc[static_cast<size_t>(s)],
                    from[static_cast<size_t>(s)].data() + at);
      }
    }
  }
  return from;
}

}  // namespace simcsepp::cluster
