// topology.cpp - text form of a Topology for logs and error messages.
#include "cluster/topology.h"

namespace simcsepp::cluster {

std::string describe(const Topology& t) {
  return "rank " + std::to_string(t.rank) + "/" + std::to_string(t.world_size) + " (local " +
         std::to_string(t.local_rank) + "/" + std::to_string(t.local_size) + ") on " + t.host;
}

}  // namespace simcsepp::cluster
