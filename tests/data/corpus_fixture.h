// corpus_fixture.h - test helper: a small prepared corpus in a temporary directory.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "data/prep.h"

namespace simcsepp::data::testing {

inline std::string shared_data() {
  const char* s = std::getenv("SIMCSEPP_SHARED_DATA");
  return s ? s : "../shared/data";
}

inline std::string vocab_path() { return shared_data() + "/vocab/bert-base-uncased-vocab.txt"; }

// Fresh directory under the system temp dir (removed by the caller or left for inspection).
inline std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("simcsepp_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// `rows` distinct sentences ("sentence number k ...") with an empty line every 50th line.
inline PrepResult make_text_corpus(const std::filesystem::path& dir, int rows, int64_t shard_rows) {
  const auto input = dir / "input.txt";
  {
    std::ofstream out(input);
    for (int k = 0; k < rows; ++k) {
      if (k % 50 == 7) out << "\n";
      out << "sentence number " << k << " of the test corpus\n";
    }
  }
  PrepOptions o;
  o.inputs = {input.string()};
  o.output_dir = (dir / "corpus").string();
  o.vocab_path = vocab_path();
  o.shard_rows = shard_rows;
  o.progress = false;
  return run_prep(o);
}

}  // namespace simcsepp::data::testing
