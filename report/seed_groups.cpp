// seed_groups.cpp - see seed_groups.h.
#include "report/seed_groups.h"

#include <cmath>
#include <limits>
#include <set>

namespace simcsepp::report {

nlohmann::json seed_free_config(const RunRecord& run) {
  if (!run.history.config) return nullptr;
  nlohmann::json options = *run.history.config;
  for (const char* key : {"seed", "run_dir", "run", "kind", "time"}) options.erase(key);
  nlohmann::json key = {{"options", options}};
  if (run.identity) {
    for (const char* k : {"corpus_sha256", "model", "global_batch"}) {
      if (run.identity->contains(k)) key[k] = (*run.identity)[k];
    }
  }
  return key;
}

std::vector<SeedGroup> group_by_seed(const std::vector<RunRecord>& runs) {
  std::vector<SeedGroup> groups;
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto config = seed_free_config(runs[i]);
    SeedGroup* found = nullptr;
    if (!config.is_null()) {
      for (auto& g : groups) {
        if (!g.config.is_null() && g.config == config) found = &g;
      }
    }
    if (found == nullptr) {
      groups.push_back({runs[i].objective(), {}, config});
      found = &groups.back();
    }
    found->runs.push_back(i);
  }
  return groups;
}

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd m;
  double sum = 0;
  for (const double v : values) {
    if (std::isfinite(v)) sum += v, ++m.n;
  }
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  if (m.n == 0) return {kNaN, kNaN, 0};
  m.mean = sum / static_cast<double>(m.n);
  if (m.n < 2) {
    m.std = kNaN;
    return m;
  }
  double squares = 0;
  for (const double v : values) {
    if (std::isfinite(v)) squares += (v - m.mean) * (v - m.mean);
  }
  m.std = std::sqrt(squares / static_cast<double>(m.n - 1));
  return m;
}

std::vector<std::string> differing_keys(const nlohmann::json& a, const nlohmann::json& b) {
  std::set<std::string> keys;
  const nlohmann::json empty = nlohmann::json::object();
  const auto& oa = a.is_object() ? a : empty;
  const auto& ob = b.is_object() ? b : empty;
  for (const auto& [k, v] : oa.items()) {
    if (!ob.contains(k) || ob[k] != v) keys.insert(k);
  }
  for (const auto& [k, v] : ob.items()) {
    if (!oa.contains(k)) keys.insert(k);
  }
  return {keys.begin(), keys.end()};
}

}  // namespace simcsepp::report
