// input_files.cpp - glob and directory expansion of prep inputs (see input_files.h).
#include "data/input_files.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "base/error.h"

namespace simcsepp::data {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> files_below(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) out.push_back(it->path().string());
  }
  if (ec) throw Error("cannot list input directory: " + ec.message(), dir, "check the path and permissions");
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& arguments) {
  std::vector<std::string> files;
  std::set<std::string> seen;
  auto add = [&](const std::string& f) {
    std::error_code ec;
    const std::string key = fs::weakly_canonical(f, ec).string();
    if (seen.insert(ec ? f : key).second) files.push_back(f);
  };
  for (const auto& a : arguments) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      const auto below = files_below(a);
      if (below.empty()) throw Error("input directory holds no files", a, "pass a directory with text, .gz, .zst or .csv files");
      for (const auto& f : below) add(f);
    } else if (fs::exists(a, ec)) {
      add(a);
    } else if (a.find_first_of("*?[") != std::string::npos) {
      glob_t g{};
      const int rc = glob(a.c_str(), 0, nullptr, &g);
      std::vector<std::string> matches;
      if (rc == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) {
          if (!fs::is_directory(g.gl_pathv[i], ec)) matches.emplace_back(g.gl_pathv[i]);
        }
      }
      globfree(&g);
      if (matches.empty()) {
        throw Error("input pattern matches no files", a, "check the pattern (quote it so the shell passes it as is)");
      }
      std::sort(matches.begin(), matches.end());
      for (const auto& f : matches) add(f);
    } else {
      throw Error("input file does not exist", a, "check the path given to --input");
    }
  }
  return files;
}

}  // namespace simcsepp::data
