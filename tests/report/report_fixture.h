// report_fixture.h - a scratch run directory for the report tests: files written line by line,
// removed at the end of the test.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace simcsepp::report::testing {

class ScratchRun {
 public:
  explicit ScratchRun(const std::string& name = "run") {
    root_ = std::filesystem::temp_directory_path() /
            ("simcsepp_report_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    dir_ = root_ / name;
    std::filesystem::create_directories(dir_);
  }
  ~ScratchRun() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);  // no libtorch in test_report: remove_all is safe
  }
  ScratchRun(const ScratchRun&) = delete;
  ScratchRun& operator=(const ScratchRun&) = delete;

  std::string dir() const { return dir_.string(); }
  std::string path(const std::string& file) const { return (dir_ / file).string(); }
  void write(const std::string& file, const std::vector<std::string>& lines) const {
    std::ofstream out(dir_ / file);
    for (const auto& l : lines) out << l << "\n";
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path root_, dir_;
};

}  // namespace simcsepp::report::testing
