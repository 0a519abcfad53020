// remove_tree.h - removes a file or a directory tree, for every folder that replaces outputs.
//
// Not std::filesystem::remove_all: in a binary linked with the libtorch wheel that symbol binds
// to libtorch.so's own copy, which crashes on non-empty directories (torch 2.11 + GCC 12: a
// SIGSEGV in remove_all, seen in `simcsepp train --overwrite`).
#pragma once

#include <filesystem>

namespace simcsepp {

// Removes `path` (a file, a symlink - not what it points to - or a directory with everything
// under it). Missing paths are fine; what cannot be removed is left in place.
void remove_tree(const std::filesystem::path& path);

}  // namespace simcsepp
