// metrics_server_unavailable.cpp - MetricsServer for builds without civetweb: refuses to start
// with a clear error (the trainer then runs with --metrics-port disabled, or gets civetweb).
#include "simcsepp/build_config.h"

#if !SIMCSEPP_HAVE_CIVETWEB

#include "cluster/base/error.h"
#include "monitoring/metrics_server.h"

namespace simcsepp::monitoring {

struct MetricsServer::Impl {};

MetricsServer::MetricsServer(const Registry&, const std::string& bind_address, int port) {
  throw Error("this build has no HTTP server for /metrics (civetweb was not found)",
              bind_address + ":" + std::to_string(port),
              "disable the metrics endpoint, or apt-get install libcivetweb-dev and rebuild");
}
MetricsServer::~MetricsServer() = default;
bool MetricsServer::available() { return false; }
int MetricsServer::port() const { return 0; }
std::uint64_t MetricsServer::scrapes() const { return 0; }

}  // namespace simcsepp::monitoring

#endif  // !SIMCSEPP_HAVE_CIVETWEB
