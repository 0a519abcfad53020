// raw_http.h - a tiny blocking HTTP/1.0 client over a loopback TCP socket, for the exporter's
// tests: sends exactly the bytes given (so tests can send malformed or oversized requests) and
// returns everything the server answered until it closed the connection.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

namespace simcsepp::monitoring::testing {

struct HttpReply {
  int status = 0;       // 0 when the server closed without a status line
  std::string headers;  // status line and headers
  std::string body;
};

// timeout_ms bounds each send and each receive (SO_SNDTIMEO / SO_RCVTIMEO): a server that does
// not answer in time gives status 0.
inline HttpReply send_raw(int port, const std::string& request, int timeout_ms = 10000) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  timeval timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early on an oversized request: read what it said
    sent += std::size_t(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string raw;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    raw.append(buf, std::size_t(n));
  }
  ::close(fd);
  HttpReply reply;
  const auto end = raw.find("\r\n\r\n");
  reply.headers = raw.substr(0, end);
  if (end != std::string::npos) reply.body = raw.substr(end + 4);
  if (raw.rfind("HTTP/1.", 0) == 0 && raw.size() >= 12) reply.status = std::stoi(raw.substr(9, 3));
  return reply;
}

inline HttpReply get(int port, const std::string& path, int timeout_ms = 10000) {
  return send_raw(port, "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n", timeout_ms);
}

}  // namespace simcsepp::monitoring::testing
