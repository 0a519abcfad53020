// remove_tree.cpp - see remove_tree.h.
#include "base/remove_tree.h"

#include <unistd.h>

#include <vector>

namespace simcsepp {

namespace fs = std::filesystem;

void remove_tree(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::symlink_status(path, ec);
  if (ec || !fs::exists(status)) return;
  if (!fs::is_directory(status)) {
    ::unlink(path.c_str());
    return;
  }
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(path, ec)) entries.push_back(e.path());
  for (const auto& e : entries) remove_tree(e);
  ::rmdir(path.c_str());
}

}  // namespace simcsepp
