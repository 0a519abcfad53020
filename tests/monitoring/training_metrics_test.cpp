// Tests of TrainingMetrics: the trainer-facing API exports what it is fed, over real HTTP.
#include "monitoring/training_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <regex>

#include "base/error.h"
#include "tests/monitoring/raw_http.h"

namespace simcsepp::monitoring {
namespace {

MetricsOptions test_options() {
  MetricsOptions o;
  o.base_port = 0;  // any free port: tests run in parallel
  o.rank = 3;
  o.local_rank = 1;
  o.world_size = 4;
  o.host = "node7";
  o.run_id = "run-42";
  return o;
}

// The value of the sample line that starts with `prefix` (name plus labels); nullopt if absent,
// so a missing series can never pass for an exported NaN.
std::optional<double> sample_value(const std::string& text, const std::string& prefix) {
  std::size_t pos = 0;
  while ((pos = text.find(prefix, pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      const auto end = text.find('\n', pos);
      const std::string line = text.substr(pos, end - pos);
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
    ++pos;
  }
  return std::nullopt;
}

// For EXPECT_DOUBLE_EQ: a missing series compares unequal to every expected value.
const double kMissing = std::nan("");

// An exported series whose value is NaN ("not measured yet"), as opposed to a missing one.
::testing::AssertionResult IsExportedNan(const std::optional<double>& v) {
  if (!v) return ::testing::AssertionFailure() << "series not exported";
  if (!std::isnan(*v)) return ::testing::AssertionFailure() << "value " << *v << ", want NaN";
  return ::testing::AssertionSuccess();
}

const std::string kLabels = "host=\"node7\",local_rank=\"1\",rank=\"3\",run_id=\"run-42\"";

TEST(TrainingMetrics, ExportsAStepWithRankLabels) {
  TrainingMetrics metrics(test_options());
  StepRecord r;
  r.step = 17;
  r.loss = 1.25;
  r.instance_loss = 1.0;
  r.dcl_loss = 0.25;
  r.learning_rate = 3e-5;
  r.grad_norm = 2.5;
  r.step_seconds = 0.5;
  r.forward_seconds = 0.2;
  r.backward_seconds = 0.25;
  r.communication_seconds = 0.05;
  r.sentences = 64;
  r.tokens = 1024;
  r.data_queue_depth = 3;
  r.effective_rank = 12.5;
  r.rtd_loss = 0.5;
  r.rtd_accuracy = 0.75;
  r.timestamp_seconds = 1.7e9;
  metrics.record_step(r);
  r.skipped = true;
  r.loss = std::nan("");
  r.step = 18;
  metrics.record_step(r);

  const std::string text = metrics.render();
  auto v = [&](const std::string& name) { return sample_value(text, name + "{" + kLabels + "}"); };
  EXPECT_TRUE(IsExportedNan(v("simcsepp_train_loss"))) << text;
  EXPECT_EQ(v("simcsepp_train_instance_loss"), 1.0);
  EXPECT_EQ(v("simcsepp_train_dcl_loss"), 0.25);
  EXPECT_EQ(v("simcsepp_train_rtd_loss"), 0.5);
  EXPECT_EQ(v("simcsepp_train_rtd_accuracy"), 0.75);
  EXPECT_EQ(v("simcsepp_learning_rate"), 3e-5);
  EXPECT_EQ(v("simcsepp_gradient_norm"), 2.5);
  EXPECT_EQ(v("simcsepp_global_step"), 18);
  EXPECT_EQ(v("simcsepp_steps_total"), 2);
  EXPECT_EQ(v("simcsepp_skipped_steps_total"), 1);
  EXPECT_EQ(v("simcsepp_sentences_total"), 128);
  EXPECT_EQ(v("simcsepp_tokens_total"), 2048);
  EXPECT_EQ(v("simcsepp_sentences_per_second"), 128);
  EXPECT_EQ(v("simcsepp_tokens_per_second"), 2048);
  EXPECT_EQ(v("simcsepp_data_queue_depth"), 3);
  EXPECT_EQ(v("simcsepp_embedding_effective_rank"), 12.5);
  EXPECT_EQ(v("simcsepp_last_step_timestamp_seconds"), 1.7e9);
  EXPECT_EQ(v("simcsepp_world_size"), 4);
  EXPECT_EQ(sample_value(text, "simcsepp_step_phase_seconds_total{" + kLabels + ",phase=\"backward\"}"), 0.5);
  EXPECT_EQ(sample_value(text, "simcsepp_step_phase_seconds{" + kLabels + ",phase=\"forward\"}"), 0.2);
  EXPECT_EQ(sample_value(text, "simcsepp_step_duration_seconds_count{" + kLabels + "}"), 2);
  EXPECT_EQ(sample_value(text, "simcsepp_step_duration_seconds_sum{" + kLabels + "}"), 1.0);
  // Not measured yet: NaN, not a misleading 0.
  EXPECT_TRUE(IsExportedNan(v("simcsepp_model_flops_utilization_ratio"))) << text;
  EXPECT_TRUE(IsExportedNan(v("simcsepp_dev_spearman"))) << text;
}

TEST(TrainingMetrics, EvalKeepsTheBestSpearman) {
  TrainingMetrics metrics(test_options());
  metrics.record_eval({.step = 250, .spearman = 0.80, .alignment = 0.2, .uniformity = -2.5});
  metrics.record_eval({.step = 500, .spearman = 0.83});
  metrics.record_eval({.step = 750, .spearman = 0.81});
  const std::string text = metrics.render();
  auto v = [&](const std::string& name) { return sample_value(text, name + "{" + kLabels + "}"); };
  EXPECT_EQ(v("simcsepp_dev_spearman"), 0.81);
  EXPECT_EQ(v("simcsepp_dev_spearman_best"), 0.83);
  EXPECT_EQ(v("simcsepp_dev_alignment"), 0.2);
  EXPECT_EQ(v("simcsepp_dev_uniformity"), -2.5);
  EXPECT_EQ(v("simcsepp_dev_eval_step"), 750);
  EXPECT_EQ(v("simcsepp_dev_evaluations_total"), 3);
}

TEST(TrainingMetrics, CollectivesReportNcclTestsBusBandwidth) {
  TrainingMetrics metrics(test_options());
  // 1 GB all-reduce in 0.1 s over 4 ranks: algbw 10 GB/s, busbw 10 * 2 * 3 / 4 = 15 GB/s.
  metrics.record_collective("all_reduce", 1e9, 0.1, 4);
  metrics.record_collective("all_gather", 4e6, 0.001, 4);
  metrics.record_checkpoint(2.5);
  metrics.record_checkpoint_blocked(0.125);
  const std::string text = metrics.render();
  EXPECT_DOUBLE_EQ(
      sample_value(text, "simcsepp_collective_bus_bandwidth_bytes_per_second{" + kLabels + ",op=\"all_reduce\"}")
          .value_or(kMissing),
      1.5e10);
  EXPECT_DOUBLE_EQ(
      sample_value(text, "simcsepp_collective_algorithm_bandwidth_bytes_per_second{" + kLabels + ",op=\"all_reduce\"}")
          .value_or(kMissing),
      1e10);
  EXPECT_DOUBLE_EQ(
      sample_value(text, "simcsepp_collective_bus_bandwidth_bytes_per_second{" + kLabels + ",op=\"all_gather\"}")
          .value_or(kMissing),
      3e9);
  EXPECT_EQ(sample_value(text, "simcsepp_collective_calls_total{" + kLabels + ",op=\"all_reduce\"}"), 1);
  // A tiny all-reduce (a step's control flags) is counted but leaves the bandwidth as it was.
  metrics.record_collective("all_reduce", 8, 0.001, 4);
  const std::string after = metrics.render();
  EXPECT_DOUBLE_EQ(
      sample_value(after, "simcsepp_collective_bus_bandwidth_bytes_per_second{" + kLabels + ",op=\"all_reduce\"}")
          .value_or(kMissing),
      1.5e10);
  EXPECT_EQ(sample_value(after, "simcsepp_collective_calls_total{" + kLabels + ",op=\"all_reduce\"}"), 2);
  EXPECT_EQ(sample_value(after, "simcsepp_collective_bytes_total{" + kLabels + ",op=\"all_reduce\"}"), 1e9 + 8);
  EXPECT_EQ(sample_value(text, "simcsepp_checkpoint_last_write_seconds{" + kLabels + "}"), 2.5);
  EXPECT_EQ(sample_value(text, "simcsepp_checkpoint_last_blocked_seconds{" + kLabels + "}"), 0.125);
  EXPECT_EQ(sample_value(text, "simcsepp_checkpoint_write_duration_seconds_count{" + kLabels + "}"), 1);
  EXPECT_THROW(metrics.record_collective("all_shuffle", 1, 1, 2), Error);
}

TEST(TrainingMetrics, ServesItsRegistryOverHttp) {
  TrainingMetrics metrics(test_options());
  const std::string endpoint = metrics.endpoint();
  ASSERT_TRUE(std::regex_match(endpoint, std::regex(R"(127\.0\.0\.1:[0-9]+)"))) << endpoint;
  const int port = std::stoi(endpoint.substr(endpoint.find(':') + 1));
  StepRecord r;
  r.loss = 0.75;
  metrics.record_step(r);
  const auto reply = testing::get(port, "/metrics");
  EXPECT_EQ(reply.status, 200) << reply.headers;
  EXPECT_EQ(sample_value(reply.body, "simcsepp_train_loss{" + kLabels + "}"), 0.75) << reply.body;
}

TEST(TrainingMetrics, TakenPortIsAnErrorNamingIt) {
  TrainingMetrics first(test_options());
  const std::string endpoint = first.endpoint();
  const int port = std::stoi(endpoint.substr(endpoint.find(':') + 1));
  MetricsOptions o = test_options();
  o.base_port = port - o.local_rank;  // same port as `first`
  try {
    TrainingMetrics second(o);
    FAIL() << "binding a taken port did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(":" + std::to_string(port)), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HINT"), std::string::npos) << e.what();
  }
}

TEST(TrainingMetrics, DisabledBindsNothingButStillRecords) {
  MetricsOptions o = test_options();
  o.enabled = false;
  TrainingMetrics metrics(o);
  EXPECT_EQ(metrics.endpoint(), "");
  StepRecord r;
  r.loss = 2.0;
  metrics.record_step(r);
  EXPECT_EQ(sample_value(metrics.render(), "simcsepp_train_loss{" + kLabels + "}"), 2.0);
}

TEST(TrainingMetrics, PortIsBasePlusLocalRank) {
  // Let the OS pick a free port, release it and bind it again as base + local rank. Another test
  // running in parallel (ctest -j) may take it in between: then the bind fails naming that
  // port, and the test picks another one - a taken port is not what this test is about.
  for (int attempt = 0; attempt < 20; ++attempt) {
    int free_port = 0;
    {
      TrainingMetrics probe(test_options());
      const std::string e = probe.endpoint();
      free_port = std::stoi(e.substr(e.find(':') + 1));
    }
    MetricsOptions o = test_options();
    o.local_rank = 1;
    o.base_port = free_port - 1;
    try {
      TrainingMetrics metrics(o);
      EXPECT_EQ(metrics.endpoint(), "127.0.0.1:" + std::to_string(free_port));
      return;
    } catch (const Error& e) {
      ASSERT_NE(std::string(e.what()).find(":" + std::to_string(free_port)), std::string::npos) << e.what();
    }
  }
  FAIL() << "20 freshly released ports were all taken again before the bind";
}

}  // namespace
}  // namespace simcsepp::monitoring
