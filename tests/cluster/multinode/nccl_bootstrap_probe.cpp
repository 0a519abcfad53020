// nccl_bootstrap_probe.cpp - runs the NCCL communicator's rendezvous (broadcast_nccl_unique_id,
// cluster/nccl/nccl_bootstrap.h) on CPU under mpirun and prints what every rank received, for
// multinode_train_test.sh to check across two simulated hosts:
//   nccl-id rank R host H id HEX root ADDR:PORT connect RESULT
// HEX is the whole id (all ranks must print the same); ADDR:PORT is where NCCL's bootstrap root
// on rank 0 listens (the sockaddr NCCL 2.x puts after the 8-byte magic; "unknown-layout" if the
// family is neither IPv4 nor IPv6); the last rank - on another host than rank 0 in the test -
// opens a TCP connection to it ("ok" or the error), the first thing its ncclCommInitRank would
// do. No GPU is involved: ncclCommInitRank itself is not called.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "cluster/mpi_runtime.h"
#include "cluster/nccl/nccl_bootstrap.h"

namespace {

// "ADDR:PORT" of the sockaddr at byte 8 of the id, with its length; "" when unrecognised.
std::string root_address(const ncclUniqueId& id, sockaddr_storage* out, socklen_t* len) {
  std::memset(out, 0, sizeof(*out));
  std::memcpy(out, id.internal + 8, std::min(sizeof(*out), sizeof(id.internal) - 8));
  char text[INET6_ADDRSTRLEN] = {0};
  if (out->ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(out);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
    *len = sizeof(sockaddr_in);
    return std::string(text) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (out->ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(out);
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
    *len = sizeof(sockaddr_in6);
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  return "";
}

// Connects with a 5 s timeout: "ok" or the reason.
std::string try_connect(const sockaddr_storage& addr, socklen_t len) {
  const int fd = socket(addr.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return std::string("socket:") + std::strerror(errno);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  std::string result = "ok";
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    if (errno != EINPROGRESS) {
      result = std::strerror(errno);
    } else {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t el = sizeof(err);
      if (poll(&p, 1, 5000) != 1) {
        result = "timeout";
      } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
        result = std::strerror(err);
      }
    }
  }
  close(fd);
  for (char& c : result) c = c == ' ' ? '_' : c;  // one word, for the checker
  return result;
}

}  // namespace

int main() {
  using namespace simcsepp::cluster;
  ensure_mpi_initialized();
  const Topology t = discover_mpi_topology();
  const ncclUniqueId id = broadcast_nccl_unique_id(MPI_COMM_WORLD, 0, collective_timeout_seconds());
  std::string hex;
  char b[3];
  for (unsigned char c : id.internal) {
    std::snprintf(b, sizeof(b), "%02x", c);
    hex += b;
  }
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string root = root_address(id, &addr, &len);
  std::string connected = "-";
  if (root.empty()) {
    root = "unknown-layout";
  } else if (t.rank == t.world_size - 1) {
    connected = try_connect(addr, len);
  }
  std::printf("nccl-id rank %d host %s id %s root %s connect %s\n", t.rank, t.host.c_str(), hex.c_str(), root.c_str(),
              connected.c_str());
  std::fflush(stdout);
  // Rank 0's bootstrap root (and its listening socket) lives until every rank has tried.
  MPI_Barrier(MPI_COMM_WORLD);
  finalize_mpi();
  return 0;
}
