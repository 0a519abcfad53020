// run_report.h - report.html of one run: the summary, every chart its metrics.jsonl can feed
// (loss and its parts, learning rate, gradient norm, STS-B dev with the best step marked,
// alignment/uniformity, effective rank, the step-time split, throughput, per-rank step time and
// throughput, skipped updates, MFU, GPU memory), a list of those it cannot and why, and the
// configuration (run.json and the options of the config line).
//
// The page is a function of the run directory's files only (no time stamp, the directory's
// absolute path), so `simcsepp report RUN` rewrites the same bytes that `simcsepp train` wrote.
#pragma once

#include <string>

#include "report/run_record.h"

namespace simcsepp::report {

// RUN/report.html.
std::string default_report_path(const std::string& run_dir);

std::string render_run_report(const RunRecord& run);

// load_run(run_dir), render, write_page(out_path). Throws simcsepp::Error (html_page.h, run_record.h).
void write_run_report(const std::string& run_dir, const std::string& out_path);

}  // namespace simcsepp::report
