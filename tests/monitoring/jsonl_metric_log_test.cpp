// Tests of the JSON-lines metric log: every line parses, fields round-trip, NaN becomes null,
// a resumed run appends, a bad path is an error naming it.
#include "monitoring/jsonl_metric_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "cluster/base/error.h"

namespace simcsepp::monitoring {
namespace {

namespace fs = std::filesystem;

std::vector<nlohmann::json> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()) + ".jsonl");
}

TEST(JsonlMetricLog, WritesOneParsableLinePerRecord) {
  const fs::path path = temp_path("simcsepp_metric_log");
  fs::remove(path);
  {
    MetricsOptions o;
    o.enabled = false;
    o.rank = 2;
    o.jsonl_path = path.string();
    TrainingMetrics metrics(o);
    StepRecord r;
    r.step = 7;
    r.loss = 1.5;
    r.dcl_loss = 0.25;
    r.learning_rate = 3e-5;
    r.step_seconds = 0.125;
    r.sentences = 64;
    r.tokens = 900;
    r.timestamp_seconds = 1.7e9;
    metrics.record_step(r);
    r.step = 8;
    r.loss = std::nan("");
    r.skipped = true;
    metrics.record_step(r);
    metrics.record_eval({.step = 8, .spearman = 0.8, .alignment = 0.2, .uniformity = std::nullopt});
    metrics.record_checkpoint(2.0);
  }
  {
    JsonlMetricLog resumed(path.string(), 2);  // a resumed run appends
    resumed.write_checkpoint(3.0);
  }
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0]["kind"], "step");
  EXPECT_EQ(lines[0]["rank"], 2);
  EXPECT_EQ(lines[0]["step"], 7);
  EXPECT_EQ(lines[0]["loss"], 1.5);
  EXPECT_EQ(lines[0]["dcl_loss"], 0.25);
  EXPECT_EQ(lines[0]["lr"], 3e-5);
  EXPECT_EQ(lines[0]["time"], 1.7e9);
  EXPECT_EQ(lines[0]["tokens"], 900);
  EXPECT_FALSE(lines[0].contains("instance_loss"));  // not measured: omitted
  EXPECT_TRUE(lines[1]["loss"].is_null());           // NaN: null, line still valid JSON
  EXPECT_EQ(lines[1]["skipped"], true);
  EXPECT_EQ(lines[2]["kind"], "eval");
  EXPECT_EQ(lines[2]["spearman"], 0.8);
  EXPECT_FALSE(lines[2].contains("uniformity"));
  EXPECT_EQ(lines[3]["kind"], "checkpoint");
  EXPECT_EQ(lines[4]["seconds"], 3.0);
  fs::remove(path);
}

TEST(JsonlMetricLog, UnwritablePathIsAnErrorNamingIt) {
  try {
    JsonlMetricLog log("/nonexistent-dir/run/metrics.jsonl", 0);
    FAIL() << "opening a log in a missing directory did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/run/metrics.jsonl"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HINT"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace simcsepp::monitoring
