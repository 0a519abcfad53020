// html_text.h - text and numbers as they go into a report page.
//
// Everything a run directory supplies (paths, option values, labels) passes through escape_html
// before it is written into the page, so a '<' in a path cannot open a tag. Numbers a test reads
// back (data-x, data-y, data-value) are written with exact_number: the shortest decimal that
// parses back to the same double, so Python's float() of the attribute equals the value json.loads
// read from metrics.jsonl.
#pragma once

#include <string>

namespace simcsepp::report {

// & < > " ' replaced by their entities (safe in text and in double- or single-quoted attributes).
std::string escape_html(const std::string& text);

// Shortest round-trip decimal of `v` ("3", "0.1", "2.5e-05"); "nan", "inf", "-inf" when not finite.
std::string exact_number(double v);

// A number for people: `digits` significant digits (%.*g); "-" when not finite.
std::string display_number(double v, int digits = 4);

}  // namespace simcsepp::report
