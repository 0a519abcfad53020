// metrics_history.cpp - see metrics_history.h.
#include "report/metrics_history.h"

#include <cmath>
#include <fstream>
#include <limits>

#include "base/error.h"

namespace simcsepp::report {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Keeps the last record per step, ordered by step.
void keep_last_per_step(std::map<int64_t, nlohmann::json>& by_step, nlohmann::json record) {
  const int64_t step = record.at("step").get<int64_t>();
  by_step[step] = std::move(record);
}

std::vector<nlohmann::json> values(std::map<int64_t, nlohmann::json>& by_step) {
  std::vector<nlohmann::json> out;
  out.reserve(by_step.size());
  for (auto& [step, record] : by_step) out.push_back(std::move(record));
  return out;
}

}  // namespace

size_t Series::finite_count() const {
  size_t n = 0;
  for (const auto& p : points) n += std::isfinite(p.y) ? 1 : 0;
  return n;
}

double number_or_nan(const nlohmann::json& object, const std::string& field) {
  if (!object.is_object()) return kNaN;
  const auto it = object.find(field);
  if (it == object.end() || !it->is_number()) return kNaN;
  return it->get<double>();
}

Series MetricsHistory::series(const std::vector<nlohmann::json>& records, const std::string& field, NullIs null_is,
                              const std::string& label) {
  Series s{field, label.empty() ? field : label, {}};
  for (const auto& r : records) {
    const auto it = r.find(field);
    if (it == r.end()) continue;
    const double x = r.at("step").get<double>();
    if (it->is_number()) {
      s.points.push_back({x, it->get<double>()});
    } else if (it->is_null() && null_is == NullIs::kNonFinite) {
      s.points.push_back({x, kNaN});
    }
  }
  return s;
}

std::vector<Series> MetricsHistory::rank_series(const std::string& field) const {
  std::vector<Series> out;
  for (const auto& r : ranks) {
    const auto it = r.find(field);
    if (it == r.end() || !it->is_array()) continue;
    const double x = r.at("step").get<double>();
    for (size_t rank = 0; rank < it->size(); ++rank) {
      if (out.size() <= rank) {
        const std::string name = "rank " + std::to_string(rank);
        out.push_back({name, name, {}});
      }
      const auto& v = (*it)[rank];
      out[rank].points.push_back({x, v.is_number() ? v.get<double>() : kNaN});
    }
  }
  return out;
}

Series MetricsHistory::skipped_cumulative() const {
  Series s{"skipped_total", "skipped updates so far", {}};
  double total = 0;
  for (const auto& r : steps) {
    const auto it = r.find("skipped");
    if (it == r.end() || !it->is_boolean()) continue;
    total += it->get<bool>() ? 1 : 0;
    s.points.push_back({r.at("step").get<double>(), total});
  }
  return s;
}

std::vector<nlohmann::json> MetricsHistory::dev_evals() const {
  std::vector<nlohmann::json> out;
  if (initial_eval) out.push_back(*initial_eval);
  out.insert(out.end(), evals.begin(), evals.end());
  return out;
}

MetricsHistory read_metrics_history(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw Error("cannot open the metrics log", path,
                "pass a run directory written by `simcsepp train --run-dir` (it writes metrics.jsonl from its first "
                "step)");
  }
  MetricsHistory h;
  h.path = path;
  std::map<int64_t, nlohmann::json> steps, evals, ranks;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++h.lines;
    const std::string where = path + ":" + std::to_string(number) + ": ";
    auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!record.is_object() || !record.contains("kind") || !record["kind"].is_string()) {
      h.malformed.push_back(where + (record.is_discarded() ? "not JSON (a partial write?)" : "no \"kind\""));
      continue;
    }
    const std::string kind = record["kind"].get<std::string>();
    const bool has_step = record.contains("step") && record["step"].is_number_integer();
    if ((kind == "step" || kind == "eval" || kind == "ranks") && !has_step) {
      h.malformed.push_back(where + kind + " line without an integer \"step\"");
      continue;
    }
    if (kind == "config") {
      if (!h.config) h.config = std::move(record);
    } else if (kind == "summary") {
      h.summary = std::move(record);
    } else if (kind == "step") {
      keep_last_per_step(steps, std::move(record));
    } else if (kind == "eval") {
      if (record.value("initial", false)) {
        h.initial_eval = std::move(record);
      } else {
        keep_last_per_step(evals, std::move(record));
      }
    } else if (kind == "ranks") {
      keep_last_per_step(ranks, std::move(record));
    } else {
      h.events.push_back(std::move(record));
    }
  }
  h.steps = values(steps);
  h.evals = values(evals);
  h.ranks = values(ranks);
  return h;
}

}  // namespace simcsepp::report
