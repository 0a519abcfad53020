// metrics_history_test.cpp - metrics.jsonl read back into series: nulls by the meaning of their
// field, the last line of a re-logged step winning, the initial evaluation kept apart, per-rank
// arrays, skipped counts, partial lines noted with their line number.
#include "report/metrics_history.h"

#include <gtest/gtest.h>

#include <cmath>

#include "base/error.h"
#include "tests/report/report_fixture.h"

namespace simcsepp::report {
namespace {

using testing::ScratchRun;

std::vector<std::string> sample_lines() {
  return {
      R"({"kind":"config","objective":"simcse++","seed":42,"time":1})",
      R"({"kind":"eval","step":0,"sts_dev_spearman_x100":70.5,"initial":true,"time":2})",
      R"({"kind":"step","step":1,"loss":2.5,"instance_loss":2.4,"dcl_loss":0.1,"lr":3e-05,"skipped":false,"effective_rank":null,"time":3})",
      R"({"kind":"step","step":2,"loss":null,"instance_loss":null,"dcl_loss":null,"lr":2e-05,"skipped":true,"effective_rank":12.5,"time":4})",
      R"({"kind":"step","step":3,"loss":2.0,"instance_loss":1.9,"dcl_loss":0.1,"lr":1e-05,"skipped":false,"effective_rank":null,"time":5})",
      R"({"kind":"ranks","step":3,"step_s":[0.5,0.75],"sentences_per_s":[32.0,21.5],"time":6})",
      R"({"kind":"eval","step":3,"sts_dev_spearman_x100":71.25,"time":7})", "",
      R"({"kind":"checkpoint","step":3,"reason":"interval","time":8})",
      // A resumed run re-logs step 3: the last line wins.
      R"({"kind":"step","step":3,"loss":1.75,"instance_loss":1.7,"dcl_loss":0.05,"lr":1e-05,"skipped":false,"time":9})",
      R"({"kind":"eval","step":3,"sts_dev_spearman_x100":72.0,"time":10})",
      R"({"kind":"summary","steps":3,"best_step":3,"time":11})",
      R"({"kind":"step","step":4,"loss":1.5)",  // killed mid-write
  };
}

TEST(MetricsHistory, ReadsEveryKind) {
  ScratchRun run;
  run.write("metrics.jsonl", sample_lines());
  const auto h = read_metrics_history(run.path("metrics.jsonl"));
  EXPECT_EQ(h.lines, 12);
  ASSERT_TRUE(h.config.has_value());
  EXPECT_EQ((*h.config)["seed"], 42);
  ASSERT_TRUE(h.summary.has_value());
  EXPECT_EQ((*h.summary)["best_step"], 3);
  ASSERT_TRUE(h.initial_eval.has_value());
  ASSERT_EQ(h.steps.size(), 3u);
  ASSERT_EQ(h.evals.size(), 1u);
  EXPECT_EQ(h.evals[0]["sts_dev_spearman_x100"], 72.0) << "the re-logged eval wins";
  EXPECT_EQ(h.steps[2]["loss"], 1.75) << "the re-logged step wins";
  ASSERT_EQ(h.events.size(), 1u);
  ASSERT_EQ(h.malformed.size(), 1u);
  EXPECT_NE(h.malformed[0].find("metrics.jsonl:13:"), std::string::npos) << h.malformed[0];
}

TEST(MetricsHistory, NullIsNonFiniteOrNotMeasuredByField) {
  ScratchRun run;
  run.write("metrics.jsonl", sample_lines());
  const auto h = read_metrics_history(run.path("metrics.jsonl"));
  const auto loss = MetricsHistory::series(h.steps, "loss", NullIs::kNonFinite);
  ASSERT_EQ(loss.points.size(), 3u);
  EXPECT_EQ(loss.points[0].x, 1);
  EXPECT_EQ(loss.points[0].y, 2.5);
  EXPECT_EQ(loss.points[1].x, 2);
  EXPECT_TRUE(std::isnan(loss.points[1].y)) << "a NaN loss (null) stays as a non-finite point";
  EXPECT_EQ(loss.points[2].y, 1.75);
  EXPECT_EQ(loss.finite_count(), 2u);
  const auto rank = MetricsHistory::series(h.steps, "effective_rank", NullIs::kNotMeasured);
  ASSERT_EQ(rank.points.size(), 1u) << "null = not measured: left out; absent in the re-logged step 3 too";
  EXPECT_EQ(rank.points[0].x, 2);
  EXPECT_EQ(rank.points[0].y, 12.5);
  EXPECT_TRUE(MetricsHistory::series(h.steps, "no_such_field", NullIs::kNonFinite).points.empty());
}

TEST(MetricsHistory, DevEvalsRanksAndSkipped) {
  ScratchRun run;
  run.write("metrics.jsonl", sample_lines());
  const auto h = read_metrics_history(run.path("metrics.jsonl"));
  const auto dev = MetricsHistory::series(h.dev_evals(), "sts_dev_spearman_x100", NullIs::kNonFinite);
  ASSERT_EQ(dev.points.size(), 2u);
  EXPECT_EQ(dev.points[0].x, 0);
  EXPECT_EQ(dev.points[0].y, 70.5);
  EXPECT_EQ(dev.points[1].y, 72.0);
  const auto ranks = h.rank_series("step_s");
  ASSERT_EQ(ranks.size(), 2u);
  EXPECT_EQ(ranks[1].key, "rank 1");
  ASSERT_EQ(ranks[1].points.size(), 1u);
  EXPECT_EQ(ranks[1].points[0].x, 3);
  EXPECT_EQ(ranks[1].points[0].y, 0.75);
  const auto skipped = h.skipped_cumulative();
  ASSERT_EQ(skipped.points.size(), 3u);
  EXPECT_EQ(skipped.points[0].y, 0);
  EXPECT_EQ(skipped.points[1].y, 1);
  EXPECT_EQ(skipped.points[2].y, 1);
}

TEST(MetricsHistory, MissingFileIsAnErrorWithAHint) {
  ScratchRun run;
  try {
    read_metrics_history(run.path("metrics.jsonl"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.jsonl"), std::string::npos);
    EXPECT_FALSE(e.hint().empty());
  }
}

TEST(MetricsHistory, StepLinesWithoutAStepAreNoted) {
  ScratchRun run;
  run.write("metrics.jsonl", {R"({"kind":"step","loss":1})", R"([1,2])", R"({"step":1})"});
  const auto h = read_metrics_history(run.path("metrics.jsonl"));
  EXPECT_TRUE(h.steps.empty());
  ASSERT_EQ(h.malformed.size(), 3u);
  EXPECT_NE(h.malformed[0].find(":1:"), std::string::npos);
  EXPECT_NE(h.malformed[2].find("no \"kind\""), std::string::npos);
}

}  // namespace
}  // namespace simcsepp::report
