// output_paths.h - where a command's outputs go, checked before any long work starts.
//
// Every command calls these from validate(), so a run directory that is a file, a read-only
// mount or a full disk is an Error (exit 1) naming the option and the path before a model is
// loaded or a corpus tokenized - not a std::filesystem exception hours later. Writability is
// tested by creating (and removing) a probe file: access(2) says yes to root on a read-only
// directory, and nothing but a real write sees a read-only mount or a quota.
#pragma once

#include <string>

namespace simcsepp::cli {

// `path` is (or can be created as) a directory this process can write in. Creates it.
void require_output_directory(const std::string& path, const std::string& option);

// `path` can be written as a file: not a directory, its parent exists (it is not created) and
// is writable. An existing file is left alone (the command replaces it when it is done).
void require_output_file(const std::string& path, const std::string& option);

// `path` is an existing regular file (not a directory) this process can open for reading.
void require_input_file(const std::string& path, const std::string& option);

}  // namespace simcsepp::cli
