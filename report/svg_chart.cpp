// svg_chart.cpp - see svg_chart.h.
#include "report/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "base/error.h"
#include "report/html_text.h"

namespace simcsepp::report {

namespace {

// Margins around the plot area: tick labels on the left and below, the y label at the far left.
constexpr double kLeft = 78, kRight = 24, kTop = 18, kBottom = 46;

std::string coord(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

}  // namespace

Axis nice_axis(double min, double max, int target) {
  SIMCSEPP_CHECK(std::isfinite(min) && std::isfinite(max) && min <= max, "nice_axis needs finite min <= max");
  if (min == max) {
    const double pad = min == 0 ? 1.0 : std::abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const double raw = (max - min) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * magnitude;
  Axis a;
  a.step = step;
  a.lo = std::floor(min / step) * step;
  a.hi = std::ceil(max / step) * step;
  if (a.hi <= a.lo) a.hi = a.lo + step;
  const auto n = static_cast<int64_t>(std::llround((a.hi - a.lo) / step));
  for (int64_t i = 0; i <= n; ++i) a.ticks.push_back(a.lo + static_cast<double>(i) * step);
  return a;
}

ChartGeometry chart_geometry(const ChartSpec& spec) {
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min;
  double y_min = x_min, y_max = -x_min;
  for (const auto& s : spec.series) {
    for (const auto& p : s.points) {
      x_min = std::min(x_min, p.x);
      x_max = std::max(x_max, p.x);
      if (std::isfinite(p.y)) {
        y_min = std::min(y_min, p.y);
        y_max = std::max(y_max, p.y);
      }
    }
  }
  for (const auto& m : spec.markers) {
    x_min = std::min(x_min, m.x), x_max = std::max(x_max, m.x);
    y_min = std::min(y_min, m.y), y_max = std::max(y_max, m.y);
  }
  if (!std::isfinite(x_min)) x_min = 0, x_max = 1;
  if (!std::isfinite(y_min)) y_min = 0, y_max = 1;
  ChartGeometry g;
  g.x = nice_axis(x_min, x_max, 6);
  g.y = nice_axis(y_min, y_max, 5);
  g.left = kLeft;
  g.top = kTop;
  g.width = spec.width - kLeft - kRight;
  g.height = spec.height - kTop - kBottom;
  return g;
}

std::vector<size_t> plotted_indices(size_t n, size_t max_points) {
  std::vector<size_t> out;
  if (n == 0) return out;
  const size_t stride = max_points == 0 || n <= max_points ? 1 : (n + max_points - 1) / max_points;
  for (size_t i = 0; i < n; i += stride) out.push_back(i);
  if (out.back() != n - 1) out.push_back(n - 1);
  return out;
}

const char* series_colour(size_t i) {
  static const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                         "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  return kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))];
}

std::string render_svg_chart(const ChartSpec& spec) {
  const ChartGeometry g = chart_geometry(spec);
  std::ostringstream svg;
  size_t points = 0, nonfinite = 0;
  std::ostringstream body;
  for (size_t si = 0; si < spec.series.size(); ++si) {
    const Series& s = spec.series[si];
    const std::string key = escape_html(s.key);
    const char* colour = series_colour(si);
    const auto keep = plotted_indices(s.points.size(), spec.max_points);
    std::vector<bool> drawn(s.points.size(), false);
    for (const size_t i : keep) drawn[i] = true;
    body << "<g class=\"series\" data-series=\"" << key << "\">";
    // Polylines between plotted finite points, broken at every non-finite value.
    std::vector<std::string> lines;
    std::string current;
    int in_line = 0;
    auto flush = [&] {
      if (in_line > 1) lines.push_back(current);
      current.clear();
      in_line = 0;
    };
    std::ostringstream marks;
    for (size_t i = 0; i < s.points.size(); ++i) {
      const Point& p = s.points[i];
      if (!std::isfinite(p.y)) {
        flush();
        const double x = g.px(p.x), y = g.top + 7;
        marks << "<path class=\"nonfinite\" data-series=\"" << key << "\" data-x=\"" << exact_number(p.x)
              << "\" data-y=\"" << exact_number(p.y) << "\" d=\"M" << coord(x - 4) << "," << coord(y - 4) << "L"
              << coord(x + 4) << "," << coord(y + 4) << "M" << coord(x - 4) << "," << coord(y + 4) << "L"
              << coord(x + 4) << "," << coord(y - 4) << "\" stroke=\"#d00\" stroke-width=\"2\"/>";
        ++nonfinite;
        continue;
      }
      if (!drawn[i]) continue;
      const double x = g.px(p.x), y = g.py(p.y);
      current += (in_line ? " " : "") + coord(x) + "," + coord(y);
      ++in_line;
      marks << "<circle class=\"pt\" data-series=\"" << key << "\" data-x=\"" << exact_number(p.x) << "\" data-y=\""
            << exact_number(p.y) << "\" cx=\"" << coord(x) << "\" cy=\"" << coord(y) << "\" r=\"2\" fill=\"" << colour
            << "\"/>";
      ++points;
    }
    flush();
    for (const auto& l : lines) {
      body << "<polyline points=\"" << l << "\" fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"1.5\"/>";
    }
    body << marks.str() << "</g>";
  }
  for (const auto& m : spec.markers) {
    const double x = g.px(m.x), y = g.py(m.y);
    body << "<g class=\"marker " << escape_html(m.kind) << "\" data-x=\"" << exact_number(m.x) << "\" data-y=\""
         << exact_number(m.y) << "\"><circle cx=\"" << coord(x) << "\" cy=\"" << coord(y)
         << "\" r=\"6\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\"/>";
    // The label goes to the side with room.
    const bool right_half = x > g.left + g.width / 2;
    body << "<text x=\"" << coord(right_half ? x - 9 : x + 9) << "\" y=\"" << coord(std::max(g.top + 12, y - 9))
         << "\" text-anchor=\"" << (right_half ? "end" : "start") << "\" font-size=\"12\">" << escape_html(m.label)
         << "</text></g>";
  }

  svg << "<svg class=\"chart\" id=\"" << escape_html(spec.id) << "\" xmlns=\"http://www.w3.org/2000/svg\" width=\""
      << spec.width << "\" height=\"" << spec.height << "\" viewBox=\"0 0 " << spec.width << " " << spec.height
      << "\" data-points=\"" << points << "\" data-nonfinite=\"" << nonfinite << "\" font-family=\"sans-serif\">";
  svg << "<title>" << escape_html(spec.title) << "</title>";
  svg << "<rect x=\"0\" y=\"0\" width=\"" << spec.width << "\" height=\"" << spec.height << "\" fill=\"#fff\"/>";
  // Grid and tick labels.
  const double bottom = g.top + g.height;
  svg << "<g class=\"axes\" font-size=\"11\" fill=\"#333\">";
  for (const double t : g.y.ticks) {
    const double y = g.py(t);
    svg << "<line x1=\"" << coord(g.left) << "\" y1=\"" << coord(y) << "\" x2=\"" << coord(g.left + g.width)
        << "\" y2=\"" << coord(y) << "\" stroke=\"#e4e4e4\"/>";
    svg << "<text x=\"" << coord(g.left - 6) << "\" y=\"" << coord(y + 4) << "\" text-anchor=\"end\">"
        << display_number(t, 6) << "</text>";
  }
  for (const double t : g.x.ticks) {
    const double x = g.px(t);
    svg << "<line x1=\"" << coord(x) << "\" y1=\"" << coord(g.top) << "\" x2=\"" << coord(x) << "\" y2=\""
        << coord(bottom) << "\" stroke=\"#f0f0f0\"/>";
    svg << "<text x=\"" << coord(x) << "\" y=\"" << coord(bottom + 16) << "\" text-anchor=\"middle\">"
        << display_number(t, 6) << "</text>";
  }
  svg << "<rect x=\"" << coord(g.left) << "\" y=\"" << coord(g.top) << "\" width=\"" << coord(g.width) << "\" height=\""
      << coord(g.height) << "\" fill=\"none\" stroke=\"#999\"/>";
  svg << "<text x=\"" << coord(g.left + g.width / 2) << "\" y=\"" << coord(spec.height - 6)
      << "\" text-anchor=\"middle\">" << escape_html(spec.x_label) << "</text>";
  svg << "<text transform=\"translate(14," << coord(g.top + g.height / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
      << escape_html(spec.y_label) << "</text>";
  svg << "</g>" << body.str() << "</svg>";
  return svg.str();
}

std::string render_chart_legend(const ChartSpec& spec) {
  std::ostringstream out;
  out << "<div class=\"legend\">";
  size_t thinned = 0, nonfinite = 0;
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const auto& s = spec.series[i];
    out << "<span class=\"key\"><span class=\"swatch\" style=\"background:" << series_colour(i) << "\"></span>"
        << escape_html(s.label) << "</span> ";
    thinned = std::max(thinned, s.points.size());
    nonfinite += s.points.size() - s.finite_count();
  }
  out << "</div>";
  if (spec.max_points > 0 && thinned > spec.max_points) {
    const size_t stride = (thinned + spec.max_points - 1) / spec.max_points;
    out << "<p class=\"note\">Long series: 1 of every " << stride << " of up to " << thinned
        << " values is plotted (and the last); metrics.jsonl has them all.</p>";
  }
  if (nonfinite > 0) {
    out << "<p class=\"note nonfinite-note\">" << nonfinite
        << " non-finite value(s) (NaN or infinity, logged as null) are not plotted: each is marked with a red "
           "&#x2715; at the top of the plot, at its step.</p>";
  }
  return out.str();
}

}  // namespace simcsepp::report
