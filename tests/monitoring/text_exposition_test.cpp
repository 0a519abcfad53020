// Tests of the Prometheus text exposition format 0.0.4 against golden text.
#include "monitoring/text_exposition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cluster/base/error.h"

namespace simcsepp::monitoring {
namespace {

TEST(TextExposition, GoldenTextForEveryMetricType) {
  Registry registry(std::map<std::string, std::string>{{"rank", "0"}, {"host", "n1"}});
  auto& steps = registry.counter("demo_steps_total", "Steps done.").child();
  auto& phase = registry.gauge("demo_phase_seconds", "Last phase time.", {"phase"});
  auto& latency = registry.histogram("demo_latency_seconds", "Latency.", {0.1, 0.5, 2});
  registry.gauge("demo_unused", "No child yet: not exported.");
  steps.increment(3);
  phase.child({"forward"}).set(0.25);
  phase.child({"backward"}).set(1e-6);
  auto& h = latency.child();
  h.observe(0.05);
  h.observe(0.1);  // on the bound: le="0.1" includes it
  h.observe(1.0);
  h.observe(7.5);
  const std::string expected =
      "# HELP demo_steps_total Steps done.\n"
      "# TYPE demo_steps_total counter\n"
      "demo_steps_total{host=\"n1\",rank=\"0\"} 3\n"
      "# HELP demo_phase_seconds Last phase time.\n"
      "# TYPE demo_phase_seconds gauge\n"
      "demo_phase_seconds{host=\"n1\",rank=\"0\",phase=\"backward\"} 1e-06\n"
      "demo_phase_seconds{host=\"n1\",rank=\"0\",phase=\"forward\"} 0.25\n"
      "# HELP demo_latency_seconds Latency.\n"
      "# TYPE demo_latency_seconds histogram\n"
      "demo_latency_seconds_bucket{host=\"n1\",rank=\"0\",le=\"0.1\"} 2\n"
      "demo_latency_seconds_bucket{host=\"n1\",rank=\"0\",le=\"0.5\"} 2\n"
      "demo_latency_seconds_bucket{host=\"n1\",rank=\"0\",le=\"2\"} 3\n"
      "demo_latency_seconds_bucket{host=\"n1\",rank=\"0\",le=\"+Inf\"} 4\n"
      "demo_latency_seconds_sum{host=\"n1\",rank=\"0\"} 8.65\n"
      "demo_latency_seconds_count{host=\"n1\",rank=\"0\"} 4\n";
  EXPECT_EQ(render_text(registry), expected);
}

TEST(TextExposition, UnlabelledSamplesHaveNoBraces) {
  Registry registry;
  registry.gauge("demo_value", "A value.").child().set(-2.5);
  EXPECT_EQ(render_text(registry), "# HELP demo_value A value.\n# TYPE demo_value gauge\ndemo_value -2.5\n");
}

TEST(TextExposition, EscapesHelpAndLabelValues) {
  EXPECT_EQ(escape_help("a\\b\nc \"quoted\""), "a\\\\b\\nc \"quoted\"");  // quotes stay in HELP
  EXPECT_EQ(escape_label_value("a\\b\nc \"q\""), "a\\\\b\\nc \\\"q\\\"");
  Registry registry(std::map<std::string, std::string>{{"run_id", "x\"y\\z\nw"}});
  registry.counter("demo_total", "Line one\nline two \\ end").child().increment();
  EXPECT_EQ(render_text(registry),
            "# HELP demo_total Line one\\nline two \\\\ end\n"
            "# TYPE demo_total counter\n"
            "demo_total{run_id=\"x\\\"y\\\\z\\nw\"} 1\n");
}

TEST(TextExposition, SpecialValues) {
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(format_value(0.0), "0");
  EXPECT_EQ(format_value(0.1), "0.1");  // shortest round-trip, not 0.10000000000000001
  EXPECT_EQ(format_value(1.7e9), "1.7e+09");
  EXPECT_EQ(std::stod(format_value(1764187200.125)), 1764187200.125);
  EXPECT_EQ(std::stod(format_value(1.0 / 3.0)), 1.0 / 3.0);
}

TEST(TextExposition, ContentTypeIsVersion004) {
  EXPECT_EQ(std::string(kTextContentType).rfind("text/plain; version=0.0.4", 0), 0u);
}

}  // namespace
}  // namespace simcsepp::monitoring
