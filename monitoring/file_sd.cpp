// file_sd.cpp - atomic writer of a Prometheus file_sd target list.
#include "monitoring/file_sd.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"

namespace simcsepp::monitoring {

namespace {

bool is_host_port(const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == endpoint.size()) return false;
  for (std::size_t i = colon + 1; i < endpoint.size(); ++i) {
    if (endpoint[i] < '0' || endpoint[i] > '9') return false;
  }
  return std::stol(endpoint.substr(colon + 1)) <= 65535;
}

// Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*, "__" reserved.
bool is_valid_label_name(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace

std::string file_sd_json(const std::vector<std::string>& endpoints, const std::map<std::string, std::string>& labels) {
  for (const auto& e : endpoints) {
    if (!is_host_port(e)) {
      throw Error("endpoint '" + e + "' is not host:port", "file_sd targets",
                  "pass TrainingMetrics::endpoint() of every rank");
    }
  }
  for (const auto& [name, value] : labels) {
    if (!is_valid_label_name(name)) {
      throw Error("invalid label name '" + name + "'", "file_sd labels",
                  "use [a-zA-Z_][a-zA-Z0-9_]*, not starting with __");
    }
  }
  nlohmann::json group;
  group["targets"] = endpoints;
  group["labels"] = labels;
  return nlohmann::json::array({group}).dump(2) + "\n";
}

void write_file_sd(const std::string& path, const std::vector<std::string>& endpoints,
                   const std::map<std::string, std::string>& labels) {
  const std::string text = file_sd_json(endpoints, labels);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw Error(std::string("cannot write Prometheus targets: ") + std::strerror(errno), tmp,
                  "check that the run directory exists and is writable");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw Error("cannot move Prometheus targets into place: " + reason, path,
                "check that the run directory is writable");
  }
}

}  // namespace simcsepp::monitoring
