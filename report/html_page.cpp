// html_page.cpp - see html_page.h.
#include "report/html_page.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "report/html_text.h"

namespace simcsepp::report {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStyle = R"(
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1540px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1em; margin: 0.2em 0; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.chart-box { border: 1px solid #ddd; padding: 0.5em; background: #fff; }
.chart-box p { margin: 0.2em 0; font-size: 0.85em; color: #555; max-width: 720px; }
.legend { font-size: 0.85em; } .key { margin-right: 1em; white-space: nowrap; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.3em; vertical-align: -0.1em; }
.note { color: #a00 !important; } code { background: #f4f4f4; padding: 0 0.2em; }
table.kv td { max-width: 70em; } td code { white-space: pre-wrap; word-break: break-all; }
)";

std::string json_value_cell(const nlohmann::json& v) {
  if (v.is_number()) {
    const double x = v.get<double>();
    return "<td data-value=\"" + exact_number(x) + "\">" + display_number(x, 10) + "</td>";
  }
  if (v.is_string()) return "<td>" + escape_html(v.get<std::string>()) + "</td>";
  if (v.is_null()) return "<td>null</td>";
  return "<td><code>" + escape_html(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) + "</code></td>";
}

}  // namespace

std::string page_begin(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + escape_html(title) +
         "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
}

std::string page_end() { return "</body>\n</html>\n"; }

std::string number_cell(double v, int digits) {
  return "<td class=\"num\" data-value=\"" + exact_number(v) + "\">" + display_number(v, digits) + "</td>";
}

std::string key_value_table(const nlohmann::json& object, const std::string& id) {
  std::ostringstream out;
  out << "<table class=\"kv\" id=\"" << escape_html(id) << "\"><tr><th>key</th><th>value</th></tr>\n";
  if (object.is_object()) {
    for (const auto& [key, value] : object.items()) {
      out << "<tr data-key=\"" << escape_html(key) << "\"><th>" << escape_html(key) << "</th>" << json_value_cell(value)
          << "</tr>\n";
    }
  }
  out << "</table>\n";
  return out.str();
}

std::string chart_section(const ChartSpec& spec, const std::string& description) {
  std::ostringstream out;
  out << "<section class=\"chart-box\" id=\"box-" << escape_html(spec.id) << "\"><h3>" << escape_html(spec.title)
      << "</h3><p>" << escape_html(description) << "</p>" << render_chart_legend(spec) << render_svg_chart(spec)
      << "</section>\n";
  return out.str();
}

void write_page(const std::string& path, const std::string& html) {
  const fs::path target(path);
  const fs::path tmp = target.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << html;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw Error("cannot write the report", path, "is the directory writable and its file system not full?");
    }
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    const std::string why = ec.message();
    fs::remove(tmp, ec);
    throw Error("cannot move the report into place: " + why, path,
                "is the directory writable? is the path a directory?");
  }
}

}  // namespace simcsepp::report
