// run_report_test.cpp - the single-run page and the comparison page from run directories:
// charts only for fields that exist (the others listed), escaped paths, the same bytes from the
// same files, and clear errors for a directory without metrics.jsonl.
#include "report/run_report.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "base/error.h"
#include "report/run_comparison.h"
#include "tests/report/report_fixture.h"

namespace simcsepp::report {
namespace {

using testing::ScratchRun;

void write_tiny_run(const ScratchRun& run, int seed, const std::string& objective, double best) {
  run.write(
      "metrics.jsonl",
      {R"({"kind":"config","objective":")" + objective + R"(","seed":)" + std::to_string(seed) + "}",
       R"({"kind":"eval","step":0,"sts_dev_spearman_x100":60,"alignment":0.5,"uniformity":-2,"initial":true})",
       R"({"kind":"step","step":1,"loss":2.5,"instance_loss":2.4,"dcl_loss":0.1,"lr":3e-05,"grad_norm":1.5,)"
       R"("skipped":false,"sentences_per_s":10,"step_s":0.5,"data_wait_s":0.01,"forward_s":0.2,"backward_s":0.2,)"
       R"("communication_s":0.05,"optimizer_s":0.04,"effective_rank":null,"mfu":null,"gpu_memory_used_bytes":null})",
       R"({"kind":"step","step":2,"loss":null,"instance_loss":null,"dcl_loss":null,"lr":2e-05,"grad_norm":null,)"
       R"("skipped":true,"sentences_per_s":11,"step_s":0.4,"data_wait_s":0.01,"forward_s":0.2,"backward_s":0.1,)"
       R"("communication_s":0.05,"optimizer_s":0.04,"effective_rank":null,"mfu":null,"gpu_memory_used_bytes":null})",
       R"({"kind":"eval","step":2,"sts_dev_spearman_x100":)" + std::to_string(best) +
           R"(,"alignment":0.4,"uniformity":-2.5})",
       R"({"kind":"summary","steps":2,"best_step":2,"best_sts_dev_spearman_x100":)" + std::to_string(best) + "}"});
  run.write("summary.json", {R"({"steps":2,"best_step":2,"best_sts_dev_spearman_x100":)" + std::to_string(best) + "}"});
  run.write("run.json", {R"({"run_id":"r)" + std::to_string(seed) + R"(","corpus_sha256":"c","global_batch":8})"});
}

TEST(RunReport, ChartsForPresentFieldsAbsentOnesListed) {
  ScratchRun run;
  write_tiny_run(run, 1, "simcse++", 70);
  const std::string html = render_run_report(load_run(run.dir()));
  for (const char* id : {"chart-loss", "chart-lr", "chart-grad-norm", "chart-dev", "chart-align-uniform",
                         "chart-step-time", "chart-throughput", "chart-skipped"}) {
    EXPECT_NE(html.find(std::string("<svg class=\"chart\" id=\"") + id + "\""), std::string::npos) << id;
  }
  for (const char* id : {"chart-effective-rank", "chart-mfu", "chart-gpu-memory", "chart-rank-step-time"}) {
    EXPECT_EQ(html.find(std::string("<svg class=\"chart\" id=\"") + id + "\""), std::string::npos) << id;
    EXPECT_NE(html.find(std::string("data-chart=\"") + id + "\""), std::string::npos) << id << " listed as absent";
  }
  for (const char* field : {"loss", "instance_loss", "lr", "grad_norm", "sts_dev_spearman_x100", "alignment"}) {
    EXPECT_EQ(html.find(std::string("data-field=\"") + field + "\""), std::string::npos) << field << " is not absent";
  }
  EXPECT_EQ(html.find("data-field=\"step_s\" data-chart=\"chart-step-time\""), std::string::npos);
  EXPECT_NE(html.find("data-field=\"step_s\" data-chart=\"chart-rank-step-time\""), std::string::npos);
  EXPECT_NE(html.find("data-field=\"effective_rank\""), std::string::npos);
  EXPECT_NE(html.find("class=\"marker best\" data-x=\"2\" data-y=\"70\""), std::string::npos);
  EXPECT_NE(html.find("class=\"nonfinite\" data-series=\"loss\" data-x=\"2\""), std::string::npos);
  EXPECT_NE(html.find("id=\"summary\""), std::string::npos);
  EXPECT_NE(html.find("id=\"run-json\""), std::string::npos);
  EXPECT_NE(html.find("id=\"options\""), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
}

TEST(RunReport, SameFilesSameBytesAndTheFileIsWritten) {
  ScratchRun run;
  write_tiny_run(run, 1, "simcse", 70);
  const std::string out = default_report_path(run.dir());
  write_run_report(run.dir(), out);
  std::ifstream in(out);
  std::stringstream first;
  first << in.rdbuf();
  EXPECT_EQ(first.str(), render_run_report(load_run(run.dir())));
  EXPECT_EQ(first.str(), render_run_report(load_run(run.dir() + "/")));
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
}

TEST(RunReport, RunDirectoryNamesAreEscaped) {
  ScratchRun run("run<b>&\"x\"");
  write_tiny_run(run, 1, "simcse<i>", 70);
  const std::string html = render_run_report(load_run(run.dir()));
  EXPECT_EQ(html.find("run<b>"), std::string::npos);
  EXPECT_EQ(html.find("<i>"), std::string::npos);
  EXPECT_EQ(html.find("\"x\""), std::string::npos);
  EXPECT_NE(html.find("run&lt;b&gt;&amp;&quot;x&quot;"), std::string::npos);
  EXPECT_NE(html.find("simcse&lt;i&gt;"), std::string::npos);
}

TEST(RunReport, NoMetricsIsAnErrorNamingTheDirectory) {
  ScratchRun run;
  try {
    load_run(run.dir());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(run.dir()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("metrics.jsonl"), std::string::npos) << e.what();
    EXPECT_FALSE(e.hint().empty());
  }
  EXPECT_THROW(load_run(run.path("missing")), Error);
}

TEST(RunComparison, GroupsAndStatistics) {
  ScratchRun a("a"), b("b"), c("c");
  write_tiny_run(a, 1, "simcse++", 70);
  write_tiny_run(b, 2, "simcse++", 74);
  write_tiny_run(c, 1, "simcse", 65);
  const std::string html = render_run_comparison({load_run(a.dir()), load_run(b.dir()), load_run(c.dir())});
  // Group 1: a and b; mean 72, sample std sqrt(8).
  const auto row = html.find("<tr data-group=\"1\">");
  ASSERT_NE(row, std::string::npos);
  const std::string group1 = html.substr(row, html.find("</tr>", row) - row);
  EXPECT_NE(group1.find("data-value=\"72\""), std::string::npos) << group1;
  EXPECT_NE(group1.find("data-value=\"2.8284271247461903\""), std::string::npos) << group1;
  EXPECT_NE(html.find("<tr data-group=\"2\">"), std::string::npos);
  EXPECT_EQ(html.find("<tr data-group=\"3\">"), std::string::npos);
  EXPECT_NE(html.find("id=\"chart-compare-dev\""), std::string::npos);
  EXPECT_NE(html.find("id=\"chart-compare-loss\""), std::string::npos);
}

TEST(RunComparison, LabelsStayUnique) {
  RunRecord x, y, z;
  x.dir = "/one/run";
  y.dir = "/two/run";
  z.dir = "/three/other";
  EXPECT_EQ(run_labels({x, y, z}), (std::vector<std::string>{"/one/run", "/two/run", "other"}));
  EXPECT_EQ(run_labels({z, z}), (std::vector<std::string>{"/three/other", "/three/other (2)"}));
}

}  // namespace
}  // namespace simcsepp::report
