// svg_chart_test.cpp - chart geometry: values to SVG coordinates, nice axes, every plotted point
// carrying its exact values, non-finite values marked and not plotted, labels escaped, thinning.
#include "report/svg_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <string>

#include "report/html_text.h"

namespace simcsepp::report {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Drawn {
  std::string series;
  double x, y, cx, cy;
};

// The <circle class="pt"> elements of an SVG string.
std::vector<Drawn> drawn_points(const std::string& svg) {
  static const std::regex pt(
      R"re(<circle class="pt" data-series="([^"]*)" data-x="([^"]*)" data-y="([^"]*)" cx="([^"]*)" cy="([^"]*)")re");
  std::vector<Drawn> out;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), pt); it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    out.push_back({m[1], std::stod(m[2]), std::stod(m[3]), std::stod(m[4]), std::stod(m[5])});
  }
  return out;
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(NiceAxis, CoversTheRangeInRoundSteps) {
  const Axis a = nice_axis(0, 100, 5);
  EXPECT_EQ(a.lo, 0);
  EXPECT_EQ(a.hi, 100);
  EXPECT_EQ(a.step, 20);
  EXPECT_EQ(a.ticks.size(), 6u);
  const Axis b = nice_axis(1.3, 7.9, 5);
  EXPECT_LE(b.lo, 1.3);
  EXPECT_GE(b.hi, 7.9);
  EXPECT_DOUBLE_EQ(b.step, 2);
  const Axis lr = nice_axis(1e-6, 3e-5, 5);
  EXPECT_LE(lr.lo, 1e-6);
  EXPECT_GE(lr.hi, 3e-5);
  EXPECT_GT(lr.step, 0);
  const Axis single = nice_axis(5, 5, 5);  // one value: a range around it
  EXPECT_LT(single.lo, 5);
  EXPECT_GT(single.hi, 5);
  const Axis zero = nice_axis(0, 0, 5);
  EXPECT_LT(zero.lo, 0);
  EXPECT_GT(zero.hi, 0);
}

ChartSpec two_series() {
  ChartSpec spec;
  spec.id = "chart-test";
  spec.title = "Test";
  spec.series.push_back({"loss", "loss", {{0, 0}, {5, 50}, {10, 100}}});
  spec.series.push_back({"other", "other", {{2, 20}, {4, kNaN}, {6, 60}, {8, 80}}});
  return spec;
}

TEST(SvgChart, ValuesLandWhereTheGeometrySays) {
  const ChartSpec spec = two_series();
  const ChartGeometry g = chart_geometry(spec);
  EXPECT_EQ(g.x.lo, 0);
  EXPECT_EQ(g.x.hi, 10);
  EXPECT_EQ(g.y.lo, 0);
  EXPECT_EQ(g.y.hi, 100);
  EXPECT_DOUBLE_EQ(g.px(0), g.left);
  EXPECT_DOUBLE_EQ(g.px(10), g.left + g.width);
  EXPECT_DOUBLE_EQ(g.py(0), g.top + g.height) << "y grows downwards";
  EXPECT_DOUBLE_EQ(g.py(100), g.top);
  EXPECT_DOUBLE_EQ(g.py(50), g.top + g.height / 2);

  const std::string svg = render_svg_chart(spec);
  const auto pts = drawn_points(svg);
  ASSERT_EQ(pts.size(), 6u) << "3 + 3 finite points; the NaN is not a point";
  for (const auto& p : pts) {
    EXPECT_NEAR(p.cx, g.px(p.x), 0.006) << p.series << " x " << p.x;
    EXPECT_NEAR(p.cy, g.py(p.y), 0.006) << p.series << " y " << p.y;
  }
  EXPECT_EQ(pts[1].series, "loss");
  EXPECT_EQ(pts[1].x, 5);
  EXPECT_EQ(pts[1].y, 50);
  EXPECT_NE(svg.find("data-points=\"6\" data-nonfinite=\"1\""), std::string::npos);
}

TEST(SvgChart, NonFiniteValuesAreMarkedAndBreakTheLine) {
  const std::string svg = render_svg_chart(two_series());
  EXPECT_EQ(count(svg, "class=\"nonfinite\""), 1u);
  EXPECT_NE(svg.find("class=\"nonfinite\" data-series=\"other\" data-x=\"4\" data-y=\"nan\""), std::string::npos);
  // loss: one polyline; other: [2] then [6, 8] - the single point before the NaN is no line.
  EXPECT_EQ(count(svg, "<polyline"), 2u);
  EXPECT_EQ(svg.find("nan,"), std::string::npos) << "no NaN coordinate in any polyline";
  EXPECT_EQ(svg.find("NaN"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(SvgChart, InfinityDoesNotStretchTheAxis) {
  ChartSpec spec;
  spec.id = "c";
  spec.series.push_back({"g", "g", {{1, 1}, {2, std::numeric_limits<double>::infinity()}, {3, 3}}});
  const ChartGeometry g = chart_geometry(spec);
  EXPECT_LE(g.y.hi, 5);
  const std::string svg = render_svg_chart(spec);
  EXPECT_EQ(drawn_points(svg).size(), 2u);
  EXPECT_NE(svg.find("data-x=\"2\" data-y=\"inf\""), std::string::npos);
}

TEST(SvgChart, AllNonFiniteStillRenders) {
  ChartSpec spec;
  spec.id = "c";
  spec.series.push_back({"loss", "loss", {{1, kNaN}, {2, kNaN}}});
  const std::string svg = render_svg_chart(spec);
  EXPECT_EQ(drawn_points(svg).size(), 0u);
  EXPECT_EQ(count(svg, "class=\"nonfinite\""), 2u);
  EXPECT_EQ(svg.find("nan,"), std::string::npos);
}

TEST(SvgChart, TextIsEscaped) {
  ChartSpec spec = two_series();
  spec.id = "c";
  spec.title = "a <b>title</b>";
  spec.y_label = "x & y";
  spec.series[0].key = "run\"<1>";
  spec.series[0].label = "<script>alert(1)</script>";
  spec.markers.push_back({5, 50, "best <here>", "best"});
  const std::string svg = render_svg_chart(spec) + render_chart_legend(spec);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("<b>"), std::string::npos);
  EXPECT_EQ(svg.find("<here>"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(svg.find("data-series=\"run&quot;&lt;1&gt;\""), std::string::npos);
  EXPECT_NE(svg.find("x &amp; y"), std::string::npos);
  EXPECT_NE(svg.find("class=\"marker best\" data-x=\"5\" data-y=\"50\""), std::string::npos);
}

TEST(SvgChart, LongSeriesAreThinnedKeepingTheLastPoint) {
  EXPECT_EQ(plotted_indices(5, 10).size(), 5u);
  const auto idx = plotted_indices(5000, 2000);
  ASSERT_FALSE(idx.empty());
  EXPECT_EQ(idx[1] - idx[0], 3u);
  EXPECT_EQ(idx.back(), 4999u);
  EXPECT_LE(idx.size(), 2001u);
  ChartSpec spec;
  spec.id = "c";
  Series s{"loss", "loss", {}};
  for (int i = 1; i <= 5000; ++i) s.points.push_back({static_cast<double>(i), 1.0 / i});
  spec.series.push_back(s);
  const std::string svg = render_svg_chart(spec);
  const auto pts = drawn_points(svg);
  EXPECT_EQ(pts.size(), idx.size());
  EXPECT_EQ(pts.back().x, 5000);
  EXPECT_NE(render_chart_legend(spec).find("1 of every 3 "), std::string::npos);
}

TEST(SvgChart, ExactValuesInTheAttributes) {
  ChartSpec spec;
  spec.id = "c";
  const double lr = 3e-05 * (1.0 - 1.0 / 7.0);
  spec.series.push_back({"lr", "lr", {{1, lr}, {2, 1.0 / 3.0}}});
  const auto pts = drawn_points(render_svg_chart(spec));
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(pts[0].y, lr) << "bit-exact after printing and parsing";
  EXPECT_EQ(pts[1].y, 1.0 / 3.0);
}

}  // namespace
}  // namespace simcsepp::report
