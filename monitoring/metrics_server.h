// metrics_server.h - serves one Registry at GET /metrics over HTTP on a background thread.
//
// Implemented with civetweb (monitoring/http/civetweb_metrics_server.cpp); builds without
// civetweb get an implementation whose constructor throws (monitoring/metrics_server_unavailable.cpp).
//
// Contract:
//  - Only GET /metrics (Prometheus text 0.0.4) and GET / (a one-line HTML page linking to it)
//    exist; other paths answer 404, other methods 405 with "Allow: GET".
//  - Requests larger than kMaxRequestBytes or malformed ones are refused by the server (400/413
//    or a closed connection); they never reach the registry.
//  - Rendering reads the registry's atomics on the server's own thread (two worker threads at
//    most), so a scrape never blocks the training step.
//  - The destructor stops the server and joins its threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "monitoring/metric_registry.h"

namespace simcsepp::monitoring {

class MetricsServer {
 public:
  static constexpr int kMaxRequestBytes = 8192;

  // Binds bind_address:port (port 0: any free port, see port()). Throws simcsepp::Error naming
  // the address if it cannot bind (port taken, bad address) or if built without civetweb.
  MetricsServer(const Registry& registry, const std::string& bind_address, int port);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // False in builds without civetweb (then the constructor throws).
  static bool available();

  int port() const;               // the port actually bound
  std::uint64_t scrapes() const;  // successful GET /metrics so far

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace simcsepp::monitoring
