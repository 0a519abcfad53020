// text_exposition.h - the Prometheus text exposition format, version 0.0.4.
//
// Per family: "# HELP name text" (backslash and newline escaped), "# TYPE name type", then one
// line per sample: name{label="value",...} value. Label values escape backslash, double quote
// and newline. Values use the shortest round-trip decimal form, and +Inf / -Inf / NaN.
// Histograms expose cumulative name_bucket{le="..."} lines ending with le="+Inf", then
// name_sum and name_count.
#pragma once

#include <string>
#include <vector>

#include "monitoring/metric_registry.h"

namespace simcsepp::monitoring {

// The Content-Type a scrape response must carry for this format.
inline constexpr const char* kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string escape_help(const std::string& help);
std::string escape_label_value(const std::string& value);
// Shortest decimal that round-trips ("0.1", "1e-06", "42"), or "+Inf", "-Inf", "NaN".
std::string format_value(double value);

// Renders the families (as Registry::collect() returns them). Families without samples (no child
// created yet) are omitted: a TYPE line without samples confuses some parsers.
std::string render_text(const std::vector<FamilySnapshot>& families);
inline std::string render_text(const Registry& registry) { return render_text(registry.collect()); }

}  // namespace simcsepp::monitoring
