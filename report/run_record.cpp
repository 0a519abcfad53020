// run_record.cpp - see run_record.h.
#include "report/run_record.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "base/error.h"

namespace simcsepp::report {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A JSON object file, or nullopt (absent); unreadable ones are noted.
std::optional<nlohmann::json> read_object(const fs::path& path, std::vector<std::string>& notes) {
  if (!fs::exists(path)) return std::nullopt;
  std::ifstream in(path);
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    notes.push_back(path.string() + " is not a JSON object; left out");
    return std::nullopt;
  }
  return j;
}

}  // namespace

nlohmann::json RunRecord::options() const { return history.config ? *history.config : nlohmann::json(); }

std::string RunRecord::objective() const {
  const auto o = options();
  if (o.is_object() && o.contains("objective") && o["objective"].is_string()) return o["objective"].get<std::string>();
  if (summary && summary->contains("objective") && (*summary)["objective"].is_string()) {
    return (*summary)["objective"].get<std::string>();
  }
  return "?";
}

std::optional<int64_t> RunRecord::seed() const {
  const auto o = options();
  if (o.is_object() && o.contains("seed") && o["seed"].is_number_integer()) return o["seed"].get<int64_t>();
  return std::nullopt;
}

double RunRecord::best_dev() const {
  if (summary) {
    const double v = number_or_nan(*summary, "best_sts_dev_spearman_x100");
    if (std::isfinite(v)) return v;
  }
  double best = kNaN;
  for (const auto& e : history.evals) {
    const double v = number_or_nan(e, "sts_dev_spearman_x100");
    if (std::isfinite(v) && !(v <= best)) best = v;
  }
  return best;
}

int64_t RunRecord::best_step() const {
  if (summary && summary->contains("best_step") && (*summary)["best_step"].is_number_integer() &&
      std::isfinite(number_or_nan(*summary, "best_sts_dev_spearman_x100"))) {
    return (*summary)["best_step"].get<int64_t>();
  }
  double best = kNaN;
  int64_t step = -1;
  for (const auto& e : history.evals) {
    const double v = number_or_nan(e, "sts_dev_spearman_x100");
    if (std::isfinite(v) && !(v <= best)) best = v, step = e.at("step").get<int64_t>();
  }
  return step;
}

double RunRecord::final_dev() const {
  return history.evals.empty() ? kNaN : number_or_nan(history.evals.back(), "sts_dev_spearman_x100");
}

int64_t RunRecord::final_step() const {
  return history.evals.empty() ? -1 : history.evals.back().at("step").get<int64_t>();
}

RunRecord load_run(const std::string& dir) {
  const fs::path d(dir);
  if (!fs::is_directory(d)) {
    throw Error(fs::exists(d) ? "not a directory" : "run directory does not exist", dir,
                "pass the --run-dir of a `simcsepp train` run");
  }
  RunRecord r;
  std::error_code ec;
  const fs::path abs = fs::weakly_canonical(fs::absolute(d), ec);
  fs::path root = ec ? d : abs;
  if (root.filename().empty()) root = root.parent_path();  // "RUN/" and "RUN" are one directory
  r.dir = root.string();
  const fs::path metrics = root / "metrics.jsonl";
  if (!fs::is_regular_file(metrics)) {
    throw Error("the directory has no metrics.jsonl, so there is nothing to report", dir,
                "pass the --run-dir of a `simcsepp train` run (it writes metrics.jsonl from its first step); for a "
                "run on another machine copy its whole run directory");
  }
  r.history = read_metrics_history(metrics.string());
  r.summary = read_object(root / "summary.json", r.notes);
  if (!r.summary && r.history.summary) {
    r.summary = r.history.summary;
    r.summary->erase("kind");
    r.summary->erase("time");
  }
  r.identity = read_object(root / "run.json", r.notes);
  return r;
}

}  // namespace simcsepp::report
