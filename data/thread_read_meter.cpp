// thread_read_meter.cpp - rchar of /proc/thread-self/io (see header).
#include "data/thread_read_meter.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace simcsepp::data {

namespace {

// rchar as the kernel had it before this read, and the bytes this read returned (which the
// kernel adds to rchar afterwards); rchar -1 if unreadable.
int64_t read_rchar(int64_t* returned) {
  *returned = 0;
  const int fd = ::open("/proc/thread-self/io", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[512];
  size_t used = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf + used, sizeof(buf) - 1 - used);
    if (n <= 0) break;
    used += static_cast<size_t>(n);
    *returned += n;
    if (used >= sizeof(buf) - 1) break;
  }
  ::close(fd);
  buf[used] = '\0';
  const char* at = std::strstr(buf, "rchar:");
  return at ? std::strtoll(at + 6, nullptr, 10) : -1;
}

}  // namespace

ThreadReadMeter::ThreadReadMeter() { start_ = read_rchar(&own_read_); }

int64_t ThreadReadMeter::stop() {
  if (start_ < 0) return -1;
  int64_t returned = 0;
  const int64_t now = read_rchar(&returned);
  if (now < 0) return -1;
  const int64_t bytes = now - start_ - own_read_;
  start_ = now;
  own_read_ = returned;
  return bytes;
}

}  // namespace simcsepp::data
