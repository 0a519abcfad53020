// input_files.h - what `simcsepp prep` inputs name: files, shell globs (expanded here, so a
// quoted pattern works on any number of files) and directories (every regular file below,
// recursively, hidden names skipped), in a fixed order that the output's row order follows.
#pragma once

#include <string>
#include <vector>

namespace simcsepp::data {

// Each argument in order: an existing file as is; a directory -> its files sorted by path; an
// argument with * ? or [ -> its glob(3) matches sorted. A file named twice is kept once (its
// first place). Throws simcsepp::Error naming the argument when it does not exist, a glob
// matches nothing, or a directory holds no files.
std::vector<std::string> expand_inputs(const std::vector<std::string>& arguments);

}  // namespace simcsepp::data
