// report_command.cpp - `simcsepp report RUN_DIR [RUN_DIR...]`: report.html of training runs.
// One directory: its run report (report/run_report.h), by default RUN_DIR/report.html - the page
// `simcsepp train` writes at its end, rewritten from the same files. Several: one comparison page
// (report/run_comparison.h), by default ./report.html. Reads only the run directories: no model,
// no device, no MPI.
#include <filesystem>
#include <iostream>

#include "base/error.h"
#include "report/run_comparison.h"
#include "report/run_report.h"
#include "cli/command.h"
#include "base/exit_codes.h"
#include "cli/output_paths.h"

namespace simcsepp::cli {

namespace {

struct ReportConfig {
  std::vector<std::string> run_dirs;
  std::string out;  // empty: RUN_DIR/report.html for one run, ./report.html for several
};

class ReportCommand final : public Command {
 public:
  std::string name() const override { return "report"; }
  std::string summary() const override {
    return "write report.html (charts, summary, config) of a run, or a comparison page of several runs";
  }

  void add_options(po::options_description& options) override {
    options.add_options()("run-dir", po::value(&c_.run_dirs)->multitoken(),
                          "run directories (positional): one gives its run report, several a comparison page")(
        "out,o", po::value(&c_.out),
        "the HTML file to write (default: RUN_DIR/report.html for one run, ./report.html for several)");
  }

  po::positional_options_description positional() const override {
    po::positional_options_description p;
    p.add("run-dir", -1);
    return p;
  }

  void validate(const po::variables_map&) override {
    namespace fs = std::filesystem;
    if (c_.run_dirs.empty()) {
      throw Error("no run directory given", "simcsepp report",
                  "simcsepp report RUN_DIR (its report.html) or simcsepp report RUN_A RUN_B ... --out compare.html");
    }
    // Every directory is checked before anything is written.
    for (const auto& d : c_.run_dirs) {
      if (!fs::is_directory(d)) {
        throw Error(fs::exists(d) ? "not a directory" : "run directory does not exist", d,
                    "pass the --run-dir of a `simcsepp train` run");
      }
      if (!fs::is_regular_file(fs::path(d) / "metrics.jsonl")) {
        throw Error("the directory has no metrics.jsonl, so there is nothing to report", d,
                    "pass the --run-dir of a `simcsepp train` run (it writes metrics.jsonl from its first step)");
      }
    }
    if (c_.out.empty()) {
      c_.out = c_.run_dirs.size() == 1 ? report::default_report_path(c_.run_dirs.front()) : "report.html";
    }
    require_output_file(c_.out, "--out");
  }

  int run() override {
    if (c_.run_dirs.size() == 1) {
      report::write_run_report(c_.run_dirs.front(), c_.out);
    } else {
      report::write_run_comparison(c_.run_dirs, c_.out);
    }
    std::cout << "report: " << c_.out << " (" << c_.run_dirs.size() << (c_.run_dirs.size() == 1 ? " run" : " runs")
              << ")\n";
    return kExitOk;
  }

 private:
  ReportConfig c_;
};

}  // namespace

std::unique_ptr<Command> make_report_command() { return std::make_unique<ReportCommand>(); }

}  // namespace simcsepp::cli
