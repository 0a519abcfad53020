// file_sd.h - Prometheus file-based service discovery for a run's ranks.
//
// The trainer gathers every rank's endpoint ("host:port") and one rank writes them into the run
// directory; Prometheus (monitoring/prometheus/prometheus.yml, file_sd_configs) re-reads the file
// when it changes, so a requeued job with new ports is picked up without a restart.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace simcsepp::monitoring {

// The file name the trainer uses inside the run directory (the scrape config globs for it).
inline constexpr const char* kFileSdName = "prometheus_targets.json";

// JSON text: [{"targets": [endpoints...], "labels": {labels...}}].
std::string file_sd_json(const std::vector<std::string>& endpoints, const std::map<std::string, std::string>& labels);

// Writes file_sd_json() atomically (temp file in the same directory, then rename), so
// Prometheus never reads half a file. Throws simcsepp::Error naming the path on failure, or on
// an endpoint that is not "host:port" or a label name Prometheus would reject.
void write_file_sd(const std::string& path, const std::vector<std::string>& endpoints,
                   const std::map<std::string, std::string>& labels);

}  // namespace simcsepp::monitoring
