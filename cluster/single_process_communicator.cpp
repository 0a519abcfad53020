#include "cluster/single_process_communicator.h"

#include <cstdio>
#include <cstdlib>

#include "base/log.h"

namespace simcsepp::cluster {

void SingleProcessCommunicator::abort(const std::string& reason) {
  LOG_ERROR("aborting: " << reason);
  std::exit(1);
}

}  // namespace simcsepp::cluster
