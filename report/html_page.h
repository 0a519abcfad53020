// html_page.h - the frame every report page shares: a self-contained HTML document (inline CSS,
// system fonts, no script, no external resource, so it opens from a file on a cluster login
// node or in a mail attachment), key/value tables, chart sections, and the file write.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "report/svg_chart.h"

namespace simcsepp::report {

std::string page_begin(const std::string& title);
std::string page_end();

// A two-column table of an object's members (in key order). Strings are escaped, numbers shown
// with display_number and carried exactly in data-value, arrays and objects shown as JSON.
std::string key_value_table(const nlohmann::json& object, const std::string& id);

// One table cell holding a number: shown rounded, data-value exact ("nan" when not finite).
std::string number_cell(double v, int digits = 4);

// A chart with its heading, one-line description and legend, as a <section class="chart-box">.
std::string chart_section(const ChartSpec& spec, const std::string& description);

// Writes `html` to `path` through a temporary file and a rename, so a reader never sees half a
// page. Throws simcsepp::Error naming the path when it cannot be written.
void write_page(const std::string& path, const std::string& html);

}  // namespace simcsepp::report
