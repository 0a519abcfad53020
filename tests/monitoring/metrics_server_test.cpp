// Tests of the /metrics HTTP server over a real loopback socket: status codes, Content-Type,
// and that bad requests are refused while the server keeps serving.
#include "monitoring/metrics_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "cluster/base/error.h"
#include "monitoring/text_exposition.h"
#include "tests/monitoring/raw_http.h"

namespace simcsepp::monitoring {
namespace {

using testing::get;
using testing::send_raw;

// One server for the whole suite: civetweb takes up to 2 s to stop.
class MetricsServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registry_ = new Registry(std::map<std::string, std::string>{{"rank", "0"}});
    gauge_ = &registry_->gauge("demo_value", "A value.").child();
    server_ = new MetricsServer(*registry_, "127.0.0.1", 0);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete registry_;
  }
  static int port() { return server_->port(); }

  static Registry* registry_;
  static Gauge* gauge_;
  static MetricsServer* server_;
};
Registry* MetricsServerTest::registry_ = nullptr;
Gauge* MetricsServerTest::gauge_ = nullptr;
MetricsServer* MetricsServerTest::server_ = nullptr;

TEST_F(MetricsServerTest, GetMetricsServesTextFormat004) {
  gauge_->set(42.5);
  const auto before = server_->scrapes();
  const auto reply = get(port(), "/metrics");
  EXPECT_EQ(reply.status, 200) << reply.headers;
  EXPECT_NE(reply.headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << reply.headers;
  EXPECT_EQ(reply.body, render_text(*registry_));
  EXPECT_NE(reply.body.find("demo_value{rank=\"0\"} 42.5\n"), std::string::npos) << reply.body;
  EXPECT_EQ(server_->scrapes(), before + 1);
}

TEST_F(MetricsServerTest, RootPageLinksToMetrics) {
  const auto reply = get(port(), "/");
  EXPECT_EQ(reply.status, 200);
  EXPECT_NE(reply.body.find("href=\"/metrics\""), std::string::npos) << reply.body;
}

TEST_F(MetricsServerTest, UnknownPathsAre404) {
  for (const char* path : {"/metricsx", "/metrics/extra", "/index.html", "/../etc/passwd", "/favicon.ico"}) {
    EXPECT_EQ(get(port(), path).status, 404) << path;
  }
}

TEST_F(MetricsServerTest, OtherMethodsAre405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE", "HEAD", "OPTIONS"}) {
    const auto reply =
        send_raw(port(), std::string(method) + " /metrics HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(reply.status, 405) << method << "\n" << reply.headers;
    if (std::string(method) != "HEAD") {  // HEAD replies carry no body but still the header
      EXPECT_NE(reply.headers.find("Allow: GET"), std::string::npos) << reply.headers;
    }
  }
}

TEST_F(MetricsServerTest, OversizedAndMalformedRequestsAreRefused) {
  // Headers beyond max_request_size: refused (4xx) or the connection is closed, never 200.
  const std::string huge =
      "GET /metrics HTTP/1.0\r\nX-Pad: " + std::string(4 * MetricsServer::kMaxRequestBytes, 'a') + "\r\n\r\n";
  const auto big = send_raw(port(), huge);
  EXPECT_TRUE(big.status == 0 || (big.status >= 400 && big.status < 500)) << big.headers;
  const auto long_uri =
      send_raw(port(), "GET /" + std::string(2 * MetricsServer::kMaxRequestBytes, 'm') + " HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(long_uri.status == 0 || (long_uri.status >= 400 && long_uri.status < 500)) << long_uri.headers;
  for (const char* junk : {"\r\n\r\n", "GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET /metrics HTTP/9.9\r\n\r\n",
                           "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"}) {
    const auto reply = send_raw(port(), junk);
    EXPECT_NE(reply.status, 200) << junk;
  }
  // The server is unharmed.
  EXPECT_EQ(get(port(), "/metrics").status, 200);
}

TEST_F(MetricsServerTest, ScrapesDoNotBlockUpdates) {
  // A writer keeps updating while a client scrapes repeatedly; both make progress.
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> updates{0};
  std::thread writer([&] {
    while (!stop) {
      gauge_->set(double(updates.fetch_add(1)));
    }
  });
  for (int i = 0; i < 20; ++i) EXPECT_EQ(get(port(), "/metrics").status, 200);
  stop = true;
  writer.join();
  EXPECT_GT(updates.load(), 1000u);
}

TEST_F(MetricsServerTest, TakenPortIsAnErrorNamingAddressAndPort) {
  Registry other;
  const std::string where = "127.0.0.1:" + std::to_string(port());
  try {
    MetricsServer second(other, "127.0.0.1", port());
    FAIL() << "binding a taken port did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HINT"), std::string::npos) << e.what();
  }
  EXPECT_EQ(get(port(), "/metrics").status, 200);  // the first server is unaffected
}

TEST(MetricsServer, BadBindAddressIsAnErrorNamingIt) {
  Registry registry;
  try {
    MetricsServer server(registry, "300.1.2.3", 0);
    FAIL() << "binding an invalid address did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("300.1.2.3:0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace simcsepp::monitoring
