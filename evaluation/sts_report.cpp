// sts_report.cpp - terminal table and JSON for STS results (see sts_report.h).
#include "evaluation/sts_report.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace simcsepp::evaluation {

namespace {

constexpr int kSevenTasks = 7;

std::string number(double v) {
  if (std::isnan(v)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

}  // namespace

double StsSuiteResult::mean_of_scored() const {
  double sum = 0;
  int n = 0;
  for (const auto& t : tasks) {
    if (!t.scored) continue;
    sum += t.spearman_x100;
    ++n;
  }
  return n == 0 ? std::nan("") : sum / n;
}

int StsSuiteResult::scored_tasks() const {
  int n = 0;
  for (const auto& t : tasks) n += t.scored ? 1 : 0;
  return n;
}

bool StsSuiteResult::complete() const { return scored_tasks() == kSevenTasks && tasks.size() == kSevenTasks; }

std::string format_sts_table(const StsSuiteResult& result) {
  std::ostringstream os;
  os << pad("task", 26) << pad("spearman x100", 15) << "pairs\n";
  os << std::string(50, '-') << "\n";
  for (const auto& t : result.tasks) {
    const std::string label = t.short_name + " (" + t.primary + ")";
    if (t.scored) {
      os << pad(label, 26) << pad(number(t.spearman_x100), 15) << t.pairs << "\n";
    } else {
      os << pad(label, 26) << pad("MISSING", 15) << t.missing << "\n";
    }
    for (const auto& p : t.parts) {
      // A split that is the headline number is not repeated.
      if (p.scored && p.name == t.primary) continue;
      const std::string plabel = "  " + p.name;
      if (p.scored) {
        os << pad(plabel, 26) << pad(number(p.spearman_x100), 15) << p.pairs << "\n";
      } else {
        os << pad(plabel, 26) << pad("-", 15) << p.note << "\n";
      }
    }
  }
  os << std::string(50, '-') << "\n";
  if (result.complete()) {
    os << pad("avg (7 tasks)", 26) << number(result.mean_of_scored()) << "\n";
  } else if (result.scored_tasks() > 0) {
    os << pad("avg", 26) << "n/a: " << result.scored_tasks() << " of " << kSevenTasks
       << " tasks scored (mean of those: " << number(result.mean_of_scored()) << ", not comparable)\n";
  } else {
    os << pad("avg", 26) << "n/a: no task scored\n";
  }
  return os.str();
}

nlohmann::json sts_result_to_json(const StsSuiteResult& result, const nlohmann::json& settings) {
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  nlohmann::json tasks = nlohmann::json::object();
  nlohmann::json missing = nlohmann::json::array();
  for (const auto& t : result.tasks) {
    nlohmann::json parts = nlohmann::json::object();
    for (const auto& p : t.parts) {
      nlohmann::json pj = {{"scored", p.scored}, {"pairs", p.pairs}};
      if (p.scored) {
        pj["spearman_x100"] = num(p.spearman_x100);
      } else {
        pj["note"] = p.note;
      }
      parts[p.name] = pj;
    }
    nlohmann::json tj = {{"short_name", t.short_name}, {"setting", t.primary}, {"scored", t.scored}, {"parts", parts}};
    if (t.scored) {
      tj["spearman_x100"] = num(t.spearman_x100);
      tj["pairs"] = t.pairs;
    } else {
      tj["missing"] = t.missing;
      missing.push_back(t.name);
    }
    tasks[t.name] = tj;
  }
  nlohmann::json j;
  j["tasks"] = tasks;
  j["average"] = result.complete() ? num(result.mean_of_scored()) : nlohmann::json(nullptr);
  j["average_of_scored"] = num(result.mean_of_scored());
  j["scored_tasks"] = result.scored_tasks();
  j["missing_tasks"] = missing;
  j["settings"] = settings;
  return j;
}

}  // namespace simcsepp::evaluation
