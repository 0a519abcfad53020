// Tests of the /metrics endpoint (prometheus-cpp's text serializer on civetweb, behind simcsepp's request filter and
// server settings) over real loopback sockets: status codes, Content-Type, bad requests refused
// while the server keeps serving, and slow clients that must not starve a scrape.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <sstream>
#include <thread>

#include "base/error.h"
#include "monitoring/training_metrics.h"
#include "tests/monitoring/raw_http.h"

namespace simcsepp::monitoring {
namespace {

using testing::get;
using testing::send_raw;

MetricsOptions loopback_any_port() {
  MetricsOptions o;
  o.base_port = 0;
  o.host = "node1";
  o.run_id = "exposer-test";
  return o;
}

int port_of(const TrainingMetrics& m) {
  const std::string e = m.endpoint();
  return std::stoi(e.substr(e.rfind(':') + 1));
}

// The value of the first sample line starting with `prefix`, or NaN.
double sample(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nan("");
}

// One server for the suite: each start and stop of civetweb takes a while.
class MetricsExposerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { metrics_ = new TrainingMetrics(loopback_any_port()); }
  static void TearDownTestSuite() { delete metrics_; }
  static int port() { return port_of(*metrics_); }
  static TrainingMetrics* metrics_;
};
TrainingMetrics* MetricsExposerTest::metrics_ = nullptr;

TEST_F(MetricsExposerTest, GetMetricsServesTheTextFormat) {
  StepRecord r;
  r.loss = 42.5;
  metrics_->record_step(r);
  const auto reply = get(port(), "/metrics");
  EXPECT_EQ(reply.status, 200) << reply.headers;
  EXPECT_NE(reply.headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << reply.headers;
  // Every line the registry renders is served, and nothing else (no series of the server's own).
  const std::string rendered = metrics_->render();
  std::istringstream lines(rendered);
  std::string line;
  int checked = 0;
  while (std::getline(lines, line)) {
    if (line.find("simcsepp_last_step_timestamp_seconds") != std::string::npos) continue;  // a clock
    EXPECT_NE(reply.body.find(line + "\n"), std::string::npos) << line;
    ++checked;
  }
  EXPECT_GT(checked, 100);
  EXPECT_EQ(sample(reply.body, "simcsepp_train_loss{"), 42.5) << reply.body;
  std::istringstream served(reply.body);
  while (std::getline(served, line)) {
    const bool own = line.rfind("simcsepp_", 0) == 0 || line.rfind("# HELP simcsepp_", 0) == 0 ||
                     line.rfind("# TYPE simcsepp_", 0) == 0;
    EXPECT_TRUE(own) << "a line that is not simcsepp's: " << line;
  }
}

TEST_F(MetricsExposerTest, RootPageLinksToMetrics) {
  const auto reply = get(port(), "/");
  EXPECT_EQ(reply.status, 200);
  EXPECT_NE(reply.body.find("href=\"/metrics\""), std::string::npos) << reply.body;
}

TEST_F(MetricsExposerTest, UnknownPathsAre404) {
  for (const char* path : {"/metricsx", "/metrics/extra", "/index.html", "/../etc/passwd", "/favicon.ico"}) {
    EXPECT_EQ(get(port(), path).status, 404) << path;
  }
}

TEST_F(MetricsExposerTest, OtherMethodsAre405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE", "HEAD", "OPTIONS"}) {
    const auto reply =
        send_raw(port(), std::string(method) + " /metrics HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(reply.status, 405) << method << "\n" << reply.headers;
    if (std::string(method) != "HEAD") {  // HEAD replies carry no body but still the header
      EXPECT_NE(reply.headers.find("Allow: GET"), std::string::npos) << reply.headers;
    }
  }
}

TEST_F(MetricsExposerTest, OversizedAndMalformedRequestsAreRefused) {
  // Headers beyond max_request_size: refused (4xx) or the connection is closed, never 200.
  constexpr int kMaxRequestBytes = 8192;
  const std::string huge = "GET /metrics HTTP/1.0\r\nX-Pad: " + std::string(4 * kMaxRequestBytes, 'a') + "\r\n\r\n";
  const auto big = send_raw(port(), huge);
  EXPECT_TRUE(big.status == 0 || (big.status >= 400 && big.status < 500)) << big.headers;
  const auto long_uri = send_raw(port(), "GET /" + std::string(2 * kMaxRequestBytes, 'm') + " HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(long_uri.status == 0 || (long_uri.status >= 400 && long_uri.status < 500)) << long_uri.headers;
  for (const char* junk : {"\r\n\r\n", "GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET /metrics HTTP/9.9\r\n\r\n",
                           "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"}) {
    const auto reply = send_raw(port(), junk);
    EXPECT_NE(reply.status, 200) << junk;
  }
  // The server is unharmed.
  EXPECT_EQ(get(port(), "/metrics").status, 200);
}

TEST_F(MetricsExposerTest, ScrapesDoNotBlockUpdates) {
  // A writer keeps stepping while a client scrapes repeatedly; both make progress.
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> updates{0};
  std::thread writer([&] {
    StepRecord r;
    while (!stop) {
      r.step = std::int64_t(updates.fetch_add(1));
      metrics_->record_step(r);
    }
  });
  for (int i = 0; i < 20; ++i) EXPECT_EQ(get(port(), "/metrics").status, 200);
  stop = true;
  writer.join();
  EXPECT_GT(updates.load(), 1000u);
}

TEST_F(MetricsExposerTest, TakenPortIsAnErrorNamingAddressAndPort) {
  MetricsOptions o = loopback_any_port();
  o.base_port = port();
  const std::string where = "127.0.0.1:" + std::to_string(port());
  try {
    TrainingMetrics second(o);
    FAIL() << "binding a taken port did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HINT"), std::string::npos) << e.what();
  }
  EXPECT_EQ(get(port(), "/metrics").status, 200);  // the first server is unaffected
}

TEST(MetricsExposer, BadBindAddressIsAnErrorNamingIt) {
  MetricsOptions o = loopback_any_port();
  o.bind_address = "300.1.2.3";
  try {
    TrainingMetrics metrics(o);
    FAIL() << "binding an invalid address did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("300.1.2.3:0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not an IP address"), std::string::npos) << e.what();
  }
}

// Slow clients (issue 19): 50 connections that sent only a request line and then hold it, as a
// stuck or hostile client would, must not keep Prometheus from scraping, and training goes on.
// Loopback only; 50 sockets, held for a few seconds at most, all closed at the end.
//
// The 1 s bound: a scrape that finds a free worker answers in about a millisecond here (bench:
// p50 0.2 ms, and tens of ms on this loaded 2-core machine), so 1 s is a wide margin; a scrape
// queued behind the held connections waits until the server times one out, at least its request
// timeout (2 s now, 5 s before issue 19) - it can only pass by not being queued. The held
// connections must still be open and unanswered afterwards, so the scrape cannot have passed
// because the server dropped them.
TEST(MetricsExposerSlowClients, HeldPartialRequestsDoNotStarveAScrape) {
  TrainingMetrics metrics(loopback_any_port());
  const int port = port_of(metrics);
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> steps{0};
  std::thread trainer([&] {
    StepRecord r;
    while (!stop) {
      r.step = steps.fetch_add(1) + 1;
      metrics.record_step(r);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });

  constexpr int kHeld = 50;
  std::vector<int> held;
  for (int i = 0; i < kHeld; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << "held connection " << i;
    const std::string request_line = "GET /metrics HTTP/1.1\r\n";  // no headers, no blank line: incomplete
    ASSERT_EQ(::send(fd, request_line.data(), request_line.size(), MSG_NOSIGNAL), ssize_t(request_line.size()));
    held.push_back(fd);
  }

  auto scrape = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    const auto reply = get(port, "/metrics", 1000);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(reply.status, 200) << "no answer within 1 s while " << kHeld << " partial requests are held";
    EXPECT_LT(seconds, 1.0);
    return sample(reply.body, "simcsepp_steps_total{");
  };
  const double first = scrape();
  // Right away (well inside the 2 s request timeout): the held requests are still pending, open
  // (no EOF) and unanswered (no bytes).
  int still_held = 0;
  for (const int fd : held) {
    char byte = 0;
    const ssize_t n = ::recv(fd, &byte, 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++still_held;
  }
  EXPECT_EQ(still_held, kHeld) << "the server dropped or answered held connections instead of serving alongside them";
  const std::int64_t seen = steps.load();
  while (steps.load() < seen + 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const double second = scrape();
  EXPECT_GT(second, first) << "training did not keep stepping (or the scrape did not see it)";
  for (const int fd : held) ::close(fd);
  stop = true;
  trainer.join();
}

}  // namespace
}  // namespace simcsepp::monitoring
