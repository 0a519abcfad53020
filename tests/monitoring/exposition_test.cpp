// Tests of the exposition text that TrainingMetrics renders through prometheus-cpp (the same
// text GET /metrics serves): format 0.0.4 structure, the constant labels on every sample,
// histogram semantics, special values and escaping, and renders concurrent with a writer.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "monitoring/training_metrics.h"

namespace simcsepp::monitoring {
namespace {

MetricsOptions quiet_options(const std::string& run_id = "run-1") {
  MetricsOptions o;
  o.enabled = false;  // render() only: no server
  o.rank = 2;
  o.local_rank = 0;
  o.host = "node3";
  o.run_id = run_id;
  return o;
}

struct Line {
  std::string name;    // with suffix (_bucket, _sum, _count)
  std::string labels;  // between the braces
  std::string value;
};

// Parses sample lines; fails the test on a line that is neither a comment nor a sample.
std::vector<Line> samples(const std::string& text) {
  static const std::regex kSample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$)");
  std::vector<Line> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::smatch m;
    EXPECT_TRUE(std::regex_match(line, m, kSample)) << "not a sample line: " << line;
    if (!m.empty()) out.push_back({m[1], m[3], m[4]});
  }
  return out;
}

double value_of(const std::vector<Line>& lines, const std::string& name, const std::string& label_part = "") {
  for (const auto& l : lines) {
    if (l.name == name && l.labels.find(label_part) != std::string::npos) return std::stod(l.value);
  }
  return -12345;  // absent
}

const std::string kConstant = "host=\"node3\",local_rank=\"0\",rank=\"2\",run_id=\"run-1\"";

TEST(Exposition, EveryFamilyHasHelpAndTypeAndEverySampleTheRunLabels) {
  TrainingMetrics m(quiet_options());
  StepRecord r;
  r.step = 1;
  r.step_seconds = 0.01;
  m.record_step(r);
  m.record_collective("all_reduce", 1e6, 1e-3, 2);
  const std::string text = m.render();
  std::map<std::string, std::string> types;
  std::set<std::string> helps;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream f(line.substr(7));
      std::string name, type;
      f >> name >> type;
      EXPECT_TRUE(types.emplace(name, type).second) << "TYPE twice: " << name;
    } else if (line.rfind("# HELP ", 0) == 0) {
      helps.insert(line.substr(7, line.find(' ', 7) - 7));
    }
  }
  EXPECT_GE(types.size(), 40u) << text;
  for (const auto& [name, type] : types) {
    EXPECT_TRUE(helps.count(name)) << name;
    EXPECT_EQ(name.rfind("simcsepp_", 0), 0u) << name;
    const bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    EXPECT_EQ(type == "counter", total) << name << " is a " << type;
  }
  EXPECT_EQ(types["simcsepp_step_duration_seconds"], "histogram");
  EXPECT_EQ(types["simcsepp_checkpoint_write_duration_seconds"], "histogram");
  for (const auto& s : samples(text)) {
    // The run's labels first, in name order, then the series' own ones.
    EXPECT_EQ(s.labels.rfind(kConstant, 0), 0u) << s.name << "{" << s.labels << "}";
    std::string family = s.name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string sx = suffix;
      if (family.size() > sx.size() && family.compare(family.size() - sx.size(), sx.size(), sx) == 0 &&
          !types.count(family)) {
        family = family.substr(0, family.size() - sx.size());
      }
    }
    EXPECT_TRUE(types.count(family)) << "sample without TYPE: " << s.name;
  }
}

TEST(Exposition, HistogramsAreCumulativeAndInfEqualsCount) {
  TrainingMetrics m(quiet_options());
  for (double seconds : {0.0005, 0.001, 0.003, 0.2, 1000.0}) {
    StepRecord r;
    r.step_seconds = seconds;
    m.record_step(r);
  }
  const auto lines = samples(m.render());
  std::vector<std::pair<std::string, double>> buckets;
  for (const auto& l : lines) {
    if (l.name == "simcsepp_step_duration_seconds_bucket") {
      const auto le = l.labels.substr(l.labels.find("le=\"") + 4);
      buckets.emplace_back(le.substr(0, le.find('"')), std::stod(l.value));
    }
  }
  ASSERT_EQ(buckets.size(), 19u);  // 18 bounds (1 ms .. 131 s) and +Inf
  EXPECT_EQ(buckets.front().first, "0.001");
  EXPECT_EQ(buckets.front().second, 2);  // 0.5 ms and exactly 1 ms (le is inclusive)
  EXPECT_EQ(buckets[2].first, "0.004");
  EXPECT_EQ(buckets[2].second, 3);
  EXPECT_EQ(buckets.back().first, "+Inf");
  for (std::size_t i = 1; i < buckets.size(); ++i) EXPECT_LE(buckets[i - 1].second, buckets[i].second);
  EXPECT_EQ(buckets[17].second, 4);  // 1000 s is beyond the last bound (131 s)
  EXPECT_EQ(buckets.back().second, 5);
  EXPECT_EQ(value_of(lines, "simcsepp_step_duration_seconds_count"), 5);
  EXPECT_DOUBLE_EQ(value_of(lines, "simcsepp_step_duration_seconds_sum"), 0.0005 + 0.001 + 0.003 + 0.2 + 1000.0);
}

TEST(Exposition, SpecialValuesAndEscaping) {
  TrainingMetrics m(quiet_options("a\"b\\c\nd"));
  StepRecord r;
  r.loss = std::numeric_limits<double>::infinity();
  r.learning_rate = -0.0;
  r.grad_norm = 1e-300;
  m.record_step(r);
  const std::string text = m.render();
  // Label values escape backslash, double quote and newline.
  EXPECT_NE(text.find("run_id=\"a\\\"b\\\\c\\nd\""), std::string::npos) << text;
  const auto lines = samples(text);
  for (const auto& l : lines) {
    if (l.name == "simcsepp_train_loss") {
      EXPECT_EQ(l.value, "+Inf");
    } else if (l.name == "simcsepp_dev_spearman") {
      EXPECT_TRUE(std::isnan(std::stod(l.value))) << l.value;  // never measured: NaN
    }
  }
  EXPECT_EQ(value_of(lines, "simcsepp_gradient_norm"), 1e-300);  // round-trips
}

TEST(Exposition, RendersConcurrentWithAWriterAreConsistent) {
  // A writer steps and records collectives; each render parses, counters never go backwards, and
  // every histogram's +Inf bucket equals its _count.
  TrainingMetrics m(quiet_options());
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> written{0};
  std::thread writer([&] {
    StepRecord r;
    r.step_seconds = 0.01;
    r.sentences = 64;
    while (!stop) {
      r.step = written.fetch_add(1) + 1;
      m.record_step(r);
      m.record_collective("all_reduce", 1e6, 1e-3, 4);
    }
  });
  double last_steps = 0, last_sentences = 0;
  for (int i = 0; i < 200; ++i) {
    const auto lines = samples(m.render());
    const double steps = value_of(lines, "simcsepp_steps_total");
    const double sentences = value_of(lines, "simcsepp_sentences_total");
    EXPECT_GE(steps, last_steps);
    EXPECT_GE(sentences, last_sentences);
    double inf = -1, count = -2;
    for (const auto& l : lines) {
      if (l.name == "simcsepp_step_duration_seconds_bucket" && l.labels.find("le=\"+Inf\"") != std::string::npos) {
        inf = std::stod(l.value);
      }
      if (l.name == "simcsepp_step_duration_seconds_count") count = std::stod(l.value);
    }
    EXPECT_EQ(inf, count);
    last_steps = steps;
    last_sentences = sentences;
  }
  stop = true;
  writer.join();
  const auto lines = samples(m.render());
  EXPECT_EQ(value_of(lines, "simcsepp_steps_total"), double(written.load()));
  EXPECT_EQ(value_of(lines, "simcsepp_sentences_total"), 64.0 * double(written.load()));
  EXPECT_EQ(value_of(lines, "simcsepp_collective_calls_total", "op=\"all_reduce\""), double(written.load()));
}

}  // namespace
}  // namespace simcsepp::monitoring
