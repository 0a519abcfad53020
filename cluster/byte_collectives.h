// byte_collectives.h - collectives on plain byte strings over MPI, for work that exchanges
// variable-sized records rather than tensors (the distributed `simcsepp prep` plan). No torch.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cluster/topology.h"

namespace simcsepp::cluster {

class ByteCollectives {
 public:
  // When a launcher (mpirun/srun) started this process: initialises MPI once, sets the log
  // identity, and duplicates MPI_COMM_WORLD. Otherwise nullptr (a single process).
  static std::unique_ptr<ByteCollectives> from_launcher();
  ~ByteCollectives();
  const Topology& topology() const { return topology_; }
  // Every rank's `mine`, in rank order.
  std::vector<std::string> all_gather(const std::string& mine);
  // to[d] goes to rank d; returns what every rank sent here, in rank order. Messages go in rounds
  // of bounded pieces, so sizes beyond MPI's int counts work.
  std::vector<std::string> all_to_all(std::vector<std::string> to);

 private:
  ByteCollectives() = default;
  void* comm_ = nullptr;  // MPI_Comm (kept out of this header)
  Topology topology_;
};

}  // namespace simcsepp::cluster
