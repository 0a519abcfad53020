// run_comparison.h - one page comparing several runs: per run its objective, seed, best and final
// STS-B dev score; per group of runs that differ only in their seed (seed_groups.h) the mean and
// standard deviation of those scores; and the dev-score and loss curves of every run overlaid.
//
// Numbers a test reads back carry data-value (exact) in their cells; rows carry data-run /
// data-group. Like run_report.h, the page depends only on the run directories' files.
#pragma once

#include <string>
#include <vector>

#include "report/run_record.h"

namespace simcsepp::report {

// A short unique label per run: the directory's name, or its full path where names repeat.
std::vector<std::string> run_labels(const std::vector<RunRecord>& runs);

std::string render_run_comparison(const std::vector<RunRecord>& runs);

// load_run of each directory (the first without metrics.jsonl is an Error naming it), render,
// write_page(out_path).
void write_run_comparison(const std::vector<std::string>& run_dirs, const std::string& out_path);

}  // namespace simcsepp::report
