// output_paths.cpp - see output_paths.h.
#include "cli/output_paths.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/error.h"

namespace simcsepp::cli {

namespace fs = std::filesystem;

namespace {

// Creates and removes a probe file in `dir`; returns "" or the reason it failed.
std::string write_probe(const fs::path& dir) {
  char host[64] = {0};
  ::gethostname(host, sizeof(host) - 1);
  const fs::path probe = dir / (".simcsepp-write-probe-" + std::string(host) + "-" + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return std::strerror(errno);
  const bool wrote = ::write(fd, "x", 1) == 1;
  const int write_errno = errno;
  ::close(fd);
  ::unlink(probe.c_str());
  return wrote ? "" : std::strerror(write_errno);
}

}  // namespace

void require_output_directory(const std::string& path, const std::string& option) {
  if (path.empty()) throw Error("no output directory given", option, "name a directory");
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (fs::exists(status) && !fs::is_directory(status)) {
    throw Error("output directory '" + path + "' exists and is not a directory", option,
                "name a new directory, or move the file out of the way");
  }
  if (!fs::exists(status)) {
    fs::create_directories(path, ec);
    if (ec) {
      throw Error("cannot create output directory '" + path + "': " + ec.message(), option,
                  "check that every parent is a directory you can write in (and the file system is not read-only)");
    }
  }
  if (const std::string why = write_probe(path); !why.empty()) {
    throw Error("cannot write in output directory '" + path + "': " + why, option,
                "choose a writable directory (read-only mount? permissions? full disk?)");
  }
}

void require_output_file(const std::string& path, const std::string& option) {
  if (path.empty()) throw Error("no output file given", option, "name a file");
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw Error("output '" + path + "' is a directory", option, "name a file inside it, e.g. " + path + "/out");
  }
  fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) parent = ".";
  if (!fs::is_directory(parent, ec)) {
    throw Error("the directory of output '" + path + "' does not exist (or is not a directory)", option,
                "create " + parent.string() + " first, or choose another path");
  }
  if (const std::string why = write_probe(parent); !why.empty()) {
    throw Error("cannot write output '" + path + "' in " + parent.string() + ": " + why, option,
                "choose a writable directory (read-only mount? permissions? full disk?)");
  }
}

void require_input_file(const std::string& path, const std::string& option) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw Error("file does not exist: '" + path + "'", option, "check the path");
  if (fs::is_directory(status)) {
    throw Error("'" + path + "' is a directory, not a file", option, "pass the file inside it that the option needs");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read '" + path + "'", option, "check its permissions");
}

}  // namespace simcsepp::cli
