// run_comparison.cpp - see run_comparison.h.
#include "report/run_comparison.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "report/html_page.h"
#include "report/html_text.h"
#include "report/seed_groups.h"
#include "simcsepp/build_config.h"

namespace simcsepp::report {

namespace {

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

// The options next to the run.json parts, one level, for naming what differs between groups.
nlohmann::json flat_config(const nlohmann::json& config) {
  nlohmann::json flat = nlohmann::json::object();
  if (!config.is_object()) return flat;
  for (const auto& [k, v] : config.items()) {
    if (k == "options" && v.is_object()) {
      for (const auto& [ok, ov] : v.items()) flat[ok] = ov;
    } else {
      flat[k] = v;
    }
  }
  return flat;
}

int64_t steps_of(const RunRecord& r) {
  if (r.summary && r.summary->contains("steps") && (*r.summary)["steps"].is_number_integer()) {
    return (*r.summary)["steps"].get<int64_t>();
  }
  return r.history.steps.empty() ? 0 : r.history.steps.back().at("step").get<int64_t>();
}

}  // namespace

std::vector<std::string> run_labels(const std::vector<RunRecord>& runs) {
  std::map<std::string, int> count;
  std::vector<std::string> names;
  for (const auto& r : runs) {
    std::filesystem::path p(r.dir);
    names.push_back(p.filename().empty() ? p.parent_path().filename().string() : p.filename().string());
    ++count[names.back()];
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    if (count[names[i]] > 1) names[i] = runs[i].dir;
  }
  // The same directory given twice keeps one label per position.
  std::map<std::string, int> seen;
  for (auto& n : names) {
    if (seen[n]++ > 0) n += " (" + std::to_string(seen[n]) + ")";
  }
  return names;
}

std::string render_run_comparison(const std::vector<RunRecord>& runs) {
  const auto labels = run_labels(runs);
  const auto groups = group_by_seed(runs);
  std::vector<size_t> group_of(runs.size(), 0);
  for (size_t g = 0; g < groups.size(); ++g) {
    for (const size_t i : groups[g].runs) group_of[i] = g;
  }
  std::ostringstream html;
  html << page_begin("simcsepp run comparison: " + std::to_string(runs.size()) + " runs");
  html << "<h1>Run comparison: " << runs.size() << " runs</h1>\n<p>Written by simcsepp " << SIMCSEPP_VERSION
       << " from the run directories' metrics.jsonl, summary.json and run.json.</p>\n";

  html << "<h2>Runs</h2>\n<table id=\"runs\"><tr><th>run</th><th>directory</th><th>objective</th><th>seed</th>"
          "<th>steps</th><th>best STS-B dev</th><th>best step</th><th>final STS-B dev</th><th>final step</th>"
          "<th>group</th></tr>\n";
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    const auto seed = r.seed();
    html << "<tr data-run=\"" << escape_html(labels[i]) << "\"><td>" << escape_html(labels[i]) << "</td><td><code>"
         << escape_html(r.dir) << "</code></td><td class=\"objective\">" << escape_html(r.objective()) << "</td>"
         << (seed ? number_cell(static_cast<double>(*seed), 12) : std::string("<td>?</td>"))
         << number_cell(static_cast<double>(steps_of(r)), 12) << number_cell(r.best_dev())
         << number_cell(static_cast<double>(r.best_step()), 12) << number_cell(r.final_dev())
         << number_cell(static_cast<double>(r.final_step()), 12) << "<td data-value=\"" << group_of[i] + 1 << "\">"
         << group_of[i] + 1 << "</td></tr>\n";
  }
  html << "</table>\n";

  html << "<h2>Over seeds</h2>\n<p>Runs are grouped when they differ only in their seed: the options of their "
          "config lines are equal once <code>seed</code>, <code>run_dir</code> and <code>run</code> (the run id and "
          "directory) are removed, and their run.json records the same corpus (<code>corpus_sha256</code>), model "
          "shape and global batch. Mean and standard deviation (sample, divisor n - 1) over the runs of a group "
          "with a finite score; n is their number.</p>\n";
  html << "<table id=\"seed-groups\"><tr><th>group</th><th>objective</th><th>runs</th><th>seeds</th><th>n</th>"
          "<th>best dev mean</th><th>best dev std</th><th>final dev mean</th><th>final dev std</th>"
          "<th>differs from group 1 in</th></tr>\n";
  const auto first = groups.empty() ? nlohmann::json() : flat_config(groups.front().config);
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& group = groups[g];
    std::vector<double> best, final;
    std::vector<std::string> names, seeds;
    for (const size_t i : group.runs) {
      best.push_back(runs[i].best_dev());
      final.push_back(runs[i].final_dev());
      names.push_back(escape_html(labels[i]));
      const auto s = runs[i].seed();
      seeds.push_back(s ? std::to_string(*s) : "?");
    }
    const MeanStd b = mean_std(best), f = mean_std(final);
    std::string differs;
    if (group.config.is_null()) {
      differs = "(no config line: compared with no other run)";
    } else if (g > 0) {
      differs = join(differing_keys(first, flat_config(group.config)), ", ");
    }
    html << "<tr data-group=\"" << g + 1 << "\"><td>" << g + 1 << "</td><td class=\"objective\">"
         << escape_html(group.objective) << "</td><td class=\"runs\">" << join(names, ", ") << "</td><td>"
         << join(seeds, ", ") << "</td>" << number_cell(static_cast<double>(b.n), 12) << number_cell(b.mean, 6)
         << number_cell(b.std, 6) << number_cell(f.mean, 6) << number_cell(f.std, 6) << "<td>" << escape_html(differs)
         << "</td></tr>\n";
  }
  html << "</table>\n";

  html << "<h2>Curves</h2>\n<div class=\"charts\">\n";
  ChartSpec dev;
  dev.id = "chart-compare-dev";
  dev.title = "STS-B dev, every run";
  dev.y_label = "Spearman x 100";
  ChartSpec loss;
  loss.id = "chart-compare-loss";
  loss.title = "Loss, every run";
  loss.y_label = "loss";
  for (size_t i = 0; i < runs.size(); ++i) {
    auto d =
        MetricsHistory::series(runs[i].history.dev_evals(), "sts_dev_spearman_x100", NullIs::kNonFinite, labels[i]);
    d.key = labels[i];
    dev.series.push_back(std::move(d));
    auto l = MetricsHistory::series(runs[i].history.steps, "loss", NullIs::kNonFinite, labels[i]);
    l.key = labels[i];
    loss.series.push_back(std::move(l));
  }
  html << chart_section(dev, "STS-B dev Spearman x 100 at each evaluation of each run (step 0: before training).");
  html << chart_section(loss, "Training loss of each update of each run.");
  html << "</div>\n";
  html << page_end();
  return html.str();
}

void write_run_comparison(const std::vector<std::string>& run_dirs, const std::string& out_path) {
  std::vector<RunRecord> runs;
  for (const auto& d : run_dirs) runs.push_back(load_run(d));
  write_page(out_path, render_run_comparison(runs));
}

}  // namespace simcsepp::report
