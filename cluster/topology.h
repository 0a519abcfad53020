// topology.h - where this process sits in the job: global rank and world size, rank and size
// among the processes of its node (the local rank picks the GPU), and the host name.
#pragma once

#include <string>

namespace simcsepp::cluster {

struct Topology {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_size = 1;
  std::string host;
};

// "rank R/W (local L/S) on HOST".
std::string describe(const Topology& topology);

}  // namespace simcsepp::cluster
