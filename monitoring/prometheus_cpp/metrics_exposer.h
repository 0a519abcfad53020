// metrics_exposer.h - serves collectables at GET /metrics (prometheus-cpp's text serializer) from
// an embedded civetweb server on a background thread pool.
//
// Contract:
//  - Only GET /metrics (text format 0.0.4, Content-Type kTextContentType, exactly the families of
//    the collectables: no series of the server's own) and GET / (a one-line HTML page linking to
//    it) exist; other paths answer 404, other methods 405 with "Allow: GET" - a request filter in
//    front of the handler, so nothing else civetweb could serve (files, listings) is reachable.
//  - Slow clients cannot starve Prometheus: kServerThreads workers each hold one connection,
//    a request must arrive whole within kRequestTimeoutMs, no keep-alive (a worker is never
//    parked on an idle connection), requests over kMaxRequestBytes are refused. So up to
//    kServerThreads - 1 held, partial or slow connections leave a worker free at once, and more
//    delay a scrape by about kRequestTimeoutMs per kServerThreads of them (docs/monitoring.md).
//  - Collecting runs on the server's threads; the collectables read atomics, so a scrape never
//    blocks the training step. The destructor stops the server and joins its threads.
#pragma once

#include <prometheus/collectable.h>

#include <memory>
#include <string>
#include <vector>

class CivetServer;

namespace simcsepp::monitoring {

class MetricsExposer {
 public:
  static constexpr int kServerThreads = 64;
  static constexpr int kRequestTimeoutMs = 2000;
  static constexpr int kMaxRequestBytes = 8192;
  static constexpr const char* kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

  // Binds bind_address:port (port 0: any free port, see port()) and serves the collectables
  // (kept alive by the caller). Throws simcsepp::Error naming address:port with a HINT if it
  // cannot bind (port taken, bad address).
  MetricsExposer(const std::string& bind_address, int port,
                 const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables);
  ~MetricsExposer();
  MetricsExposer(const MetricsExposer&) = delete;
  MetricsExposer& operator=(const MetricsExposer&) = delete;

  int port() const { return port_; }

 private:
  class MetricsHandler;
  std::unique_ptr<MetricsHandler> handler_;
  std::unique_ptr<CivetServer> server_;  // after handler_: destroyed first
  int port_ = 0;
};

}  // namespace simcsepp::monitoring
