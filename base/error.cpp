#include "base/error.h"

namespace simcsepp {

namespace {
std::string compose(const std::string& what, const std::string& where, const std::string& hint) {
  std::string s = where.empty() ? what : where + ": " + what;
  if (!hint.empty()) s += "\n  HINT: " + hint;
  return s;
}
}  // namespace

Error::Error(std::string what, std::string where, std::string hint)
    : std::runtime_error(compose(what, where, hint)),
      message_(std::move(what)),
      where_(std::move(where)),
      hint_(std::move(hint)) {}

void fail_internal(const char* expr, const char* file, int line, const std::string& msg) {
  throw std::logic_error(std::string("internal error at ") + file + ":" + std::to_string(line) + ": (" + expr + ") " +
                         msg);
}

}  // namespace simcsepp
