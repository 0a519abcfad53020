// error.h - the one error type of simcsepp.
//
// Every failure a user can cause (bad file, bad option, bad shard) is thrown as simcsepp::Error
// with what went wrong, where (file, line/row/key) and a HINT the user can act on. The CLI entry
// point catches it once and prints it prefixed with the rank and host (see log.h).
#pragma once

#include <stdexcept>
#include <string>

namespace simcsepp {

class Error : public std::runtime_error {
 public:
  // `where` names the file/line/key/shard at fault (may be empty); `hint` says what to do.
  Error(std::string what, std::string where = {}, std::string hint = {});

  const std::string& where() const { return where_; }
  const std::string& hint() const { return hint_; }
  // What went wrong, without `where` and the hint (to wrap in another Error).
  const std::string& message() const { return message_; }

 private:
  std::string message_;
  std::string where_;
  std::string hint_;
};

// Internal invariant violated (a bug, not bad input): message carries the source location.
[[noreturn]] void fail_internal(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace simcsepp

#define SIMCSEPP_CHECK(cond, msg)                                             \
  do {                                                                        \
    if (!(cond)) ::simcsepp::fail_internal(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)
