// prep_peers.h - how the processes of one distributed prep talk: two byte-level collectives,
// injected by the caller (data/ knows nothing of MPI; cli/ binds them to MPI).
//
// Every process of a job calls each collective in the same order. The default is one process.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace simcsepp::data {

struct PrepPeers {
  int rank = 0;
  int world = 1;
  // Every process's `mine`, in rank order, on every process.
  std::function<std::vector<std::string>(const std::string& mine)> all_gather =
      [](const std::string& mine) { return std::vector<std::string>{mine}; };
  // to[d] goes to process d; returns what each process sent to this one, in rank order.
  std::function<std::vector<std::string>(std::vector<std::string> to)> all_to_all =
      [](std::vector<std::string> to) { return to; };
};

}  // namespace simcsepp::data
