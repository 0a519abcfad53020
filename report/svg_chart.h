// svg_chart.h - a line chart as inline SVG: axes with "nice" ticks, one polyline per series,
// a circle per plotted point, non-finite values marked on the x axis, labelled markers.
//
// Every plotted point is a <circle class="pt" data-series=KEY data-x=X data-y=Y> whose data-x
// and data-y are the exact values (html_text.h exact_number), so a test reads back what was
// drawn and compares it with metrics.jsonl; cx/cy are the geometry (chart_geometry below). A
// non-finite value (NaN loss, a dev score of a diverged model) is not a point: it breaks the
// polyline there and is drawn as <path class="nonfinite" data-series=KEY data-x=X> - a red cross
// under the x axis - so neither the SVG nor the y range is broken by it. The chart itself is
// <svg class="chart" id=ID data-points=N data-nonfinite=M>. No script, no external resource.
#pragma once

#include <string>
#include <vector>

#include "report/metrics_history.h"

namespace simcsepp::report {

struct ChartMarker {
  double x = 0, y = 0;
  std::string label;          // drawn next to the marker ("best: 81.2 at step 150")
  std::string kind = "best";  // the marker's class
};

struct ChartSpec {
  std::string id;  // unique in the page (letters, digits, '-')
  std::string title, x_label = "step", y_label;
  std::vector<Series> series;
  std::vector<ChartMarker> markers;
  int width = 720, height = 300;
  // Longer series are thinned to every k-th point (the last one always kept), said in the caption.
  size_t max_points = 2000;
};

// An axis range [lo, hi] in steps of `step` (1, 2 or 5 x 10^k), `ticks` from lo to hi.
struct Axis {
  double lo = 0, hi = 1, step = 1;
  std::vector<double> ticks;
};

// The axis that covers [min, max] with about `target` ticks; a single value (min == max) gets
// a range around it. Requires finite min <= max.
Axis nice_axis(double min, double max, int target = 5);

// Where values land: the plot area inside the margins, y growing downwards as in SVG.
struct ChartGeometry {
  Axis x, y;
  double left = 0, top = 0, width = 0, height = 0;  // the plot area, in SVG units
  double px(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * width; }
  double py(double v) const { return top + height - (v - y.lo) / (y.hi - y.lo) * height; }
};

// The geometry of `spec` from its finite points and markers (x also from non-finite points).
ChartGeometry chart_geometry(const ChartSpec& spec);

// Indices of the points of a series of n points that are drawn (all, or every k-th + the last).
std::vector<size_t> plotted_indices(size_t n, size_t max_points);

// The colour of series i (a fixed palette, distinguishable in print).
const char* series_colour(size_t i);

// The chart as an <svg> element. A spec without any finite point still renders (axes only).
std::string render_svg_chart(const ChartSpec& spec);

// The HTML legend of a chart (coloured swatches and the escaped labels), and its caption notes
// (thinning, non-finite values).
std::string render_chart_legend(const ChartSpec& spec);

}  // namespace simcsepp::report
