// metrics_exposer.cpp - MetricsExposer: GET /metrics rendered by prometheus-cpp's text serializer,
// served by an embedded civetweb server with simcsepp's settings, a request filter, and bind
// errors that say what to do.
#include "monitoring/prometheus_cpp/metrics_exposer.h"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <civetweb.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <prometheus/text_serializer.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "base/error.h"
#include "base/log.h"

// ---------------------------------------------------------------------------------------------
// Debian's civetweb 1.15 (prometheus-cpp's Exposer runs on it) starts its threads with a fixed
// 100 KiB stack (USE_STACK_SIZE). glibc carves the static TLS of every loaded library out of each new thread's stack,
// and with libtorch and the CUDA libraries loaded (cublasLt alone has 94 KiB) that exceeds 100 KiB, so pthread_create
// fails with EINVAL ("Cannot create first worker thread") in the trainer, never in a torch-free test. This definition
// interposes libc's for the whole process (a binary that links libcivetweb exports it, because libcivetweb references
// it) and raises requests below 1 MiB.
extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr, size_t size) noexcept {
  using Fn = int (*)(pthread_attr_t*, size_t);
  static const Fn libc_setstacksize = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  constexpr size_t kMinStackBytes = size_t{1} << 20;
  return libc_setstacksize(attr, size < kMinStackBytes ? kMinStackBytes : size);
}

namespace simcsepp::monitoring {

namespace {

// civetweb keeps global state (mg_init_library); initialise it once per process, never exit it
// (other servers may still run; the OS frees it at exit). Without this, each server start/stop
// would init/exit the library itself, racing other servers of the process (tests run several).
void init_civetweb_once() {
  static std::once_flag flag;
  std::call_once(flag, [] { mg_init_library(0); });
}

void send_plain(mg_connection* conn, int status, const char* body, const char* allow = nullptr) {
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", "text/plain; charset=utf-8", -1);
  mg_response_header_add(conn, "Content-Length", std::to_string(std::strlen(body)).c_str(), -1);
  if (allow) mg_response_header_add(conn, "Allow", allow, -1);
  mg_response_header_add(conn, "Connection", "close", -1);
  mg_response_header_send(conn);
  mg_write(conn, body, std::strlen(body));
}

// civetweb's begin_request: runs before any handler. Lets GET /metrics through to the metrics
// handler (return 0), answers GET / itself, refuses everything else (a handler registered for
// /metrics would also be asked for /metrics/<anything>, and civetweb would serve files).
int filter_request(mg_connection* conn) {
  const mg_request_info* request = mg_get_request_info(conn);
  const std::string path = request->local_uri ? request->local_uri : "";
  if (path != "/metrics" && path != "/") {
    send_plain(conn, 404, "not found: only /metrics is served\n");
    return 404;
  }
  if (std::strcmp(request->request_method, "GET") != 0) {
    send_plain(conn, 405, "method not allowed: use GET\n", "GET");
    return 405;
  }
  if (path == "/metrics") return 0;
  static const char kPage[] =
      "<html><head><title>simcsepp metrics</title></head><body>"
      "<a href=\"/metrics\">/metrics</a></body></html>\n";
  mg_send_http_ok(conn, "text/html; charset=utf-8", sizeof(kPage) - 1);
  mg_write(conn, kPage, sizeof(kPage) - 1);
  return 200;
}

int log_message(const mg_connection*, const char* message) {
  LOG_DEBUG("civetweb: " << message);
  return 1;  // handled: civetweb must not print to stderr itself
}

}  // namespace

// The /metrics handler: every collectable's families, in order, as text format 0.0.4. Its own
// handler rather than prometheus-cpp's Exposer, whose handler adds unlabelled exposer_* families
// of its own to every scrape and omits the format version from the Content-Type.
class MetricsExposer::MetricsHandler : public CivetHandler {
 public:
  explicit MetricsHandler(std::vector<std::shared_ptr<prometheus::Collectable>> collectables)
      : collectables_(std::move(collectables)) {}

  bool handleGet(CivetServer*, mg_connection* conn) override {
    std::vector<prometheus::MetricFamily> families;
    for (const auto& c : collectables_) {
      auto collected = c->Collect();
      families.insert(families.end(), std::make_move_iterator(collected.begin()),
                      std::make_move_iterator(collected.end()));
    }
    const std::string body = prometheus::TextSerializer().Serialize(families);
    mg_response_header_start(conn, 200);
    mg_response_header_add(conn, "Content-Type", kTextContentType, -1);
    mg_response_header_add(conn, "Content-Length", std::to_string(body.size()).c_str(), -1);
    mg_response_header_add(conn, "Connection", "close", -1);
    mg_response_header_send(conn);
    mg_write(conn, body.data(), body.size());
    return true;
  }

 private:
  const std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
};

namespace {

// Why a listening socket on (address, port) cannot be had, as a hint: the errno of a plain
// bind(2) tells a taken port from an address this host does not have (civetweb's text does not).
std::string bind_failure_hint(const std::string& address, int port) {
  sockaddr_storage sa{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&sa);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&sa);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    return "'" + address +
           "' is not an IP address: use 127.0.0.1 (this host only), 0.0.0.0 (all interfaces) or "
           "an address of one of this host's interfaces (--metrics-bind)";
  }
  const int fd = ::socket(sa.ss_family, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const int rc = fd < 0 ? -1 : ::bind(fd, reinterpret_cast<sockaddr*>(&sa), len);
  const int err = errno;
  if (fd >= 0) ::close(fd);
  if (rc == 0 || err == EADDRINUSE) {
    return "port " + std::to_string(port) +
           " is taken by another process or rank: choose another base port "
           "(--metrics-port; rank L serves base + L), or --metrics false";
  }
  if (err == EADDRNOTAVAIL) {
    return address +
           " is not an address of this host: use 127.0.0.1, 0.0.0.0 or one of this host's interface "
           "addresses (`ip -br addr`) for --metrics-bind";
  }
  if (err == EACCES) return "ports below 1024 need privileges: choose a --metrics-port of 1024 or more";
  return std::string("bind(2) says: ") + std::strerror(err) + "; check --metrics-bind and --metrics-port";
}

}  // namespace

MetricsExposer::MetricsExposer(const std::string& bind_address, int port,
                               const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables) {
  init_civetweb_once();
  const std::string where = bind_address + ":" + std::to_string(port);
  // IPv6 literals need brackets in civetweb's listening_ports syntax.
  const std::string listen = (bind_address.find(':') != std::string::npos ? "[" + bind_address + "]" : bind_address) +
                             ":" + std::to_string(port);
  const std::vector<std::string> options = {
      "listening_ports",    listen,
      "num_threads",        std::to_string(kServerThreads),     // held connections leave workers free
      "request_timeout_ms", std::to_string(kRequestTimeoutMs),  // a partial request frees its worker
      "enable_keep_alive",  "no",                               // no worker parked on an idle connection
      "max_request_size",   std::to_string(kMaxRequestBytes),
  };
  CivetCallbacks callbacks;
  callbacks.begin_request = &filter_request;
  callbacks.log_message = &log_message;
  handler_ = std::make_unique<MetricsHandler>(collectables);
  try {
    server_ = std::make_unique<CivetServer>(options, &callbacks);
  } catch (const std::exception& e) {
    throw Error(std::string("cannot serve /metrics: ") + e.what(), where, bind_failure_hint(bind_address, port));
  }
  server_->addHandler("/metrics", handler_.get());
  const auto ports = server_->getListeningPorts();
  port_ = ports.empty() ? port : ports.front();
}

MetricsExposer::~MetricsExposer() {
  if (server_) server_->close();  // joins the workers before the handler they call goes
}

}  // namespace simcsepp::monitoring
