// tokenize_ids.cpp - test helper (not part of the product): tokenizes a file line by line and
// prints one line of space-separated ids per input line, for the Python parity tests.
//
// usage: data_tokenize_ids VOCAB INPUT [--cased] [--max-len N]
//   Lines are split on '\n' only (a '\r' stays part of the line, as in the Python oracle).
//   Without --max-len: tokenize_ids (no [CLS]/[SEP]); with it: encode(text, N).
//   The last stderr line reports "invalid_utf8=<count>".
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "base/error.h"
#include "data/wordpiece_tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: data_tokenize_ids VOCAB INPUT [--cased] [--max-len N]\n";
    return 2;
  }
  bool lowercase = true;
  int max_len = 0;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--cased") lowercase = false;
    if (a == "--max-len" && i + 1 < argc) max_len = std::stoi(argv[++i]);
  }
  try {
    const auto tok = simcsepp::data::WordPieceTokenizer::from_vocab_file(argv[1], lowercase);
    std::ifstream in(argv[2], std::ios::binary);
    if (!in) throw simcsepp::Error("cannot open input", argv[2], "");
    std::string line, out;
    std::vector<int32_t> ids;
    int64_t invalid = 0;
    while (std::getline(in, line)) {
      ids.clear();
      if (max_len > 0) {
        ids = tok.encode(line, max_len, nullptr, &invalid);
      } else {
        invalid += tok.tokenize_ids(line, ids);
      }
      out.clear();
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out.push_back(' ');
        out += std::to_string(ids[i]);
      }
      out.push_back('\n');
      std::cout << out;
    }
    std::cerr << "invalid_utf8=" << invalid << "\n";
  } catch (const simcsepp::Error& e) {
    std::cerr << e.what() << " [" << e.where() << "] HINT: " << e.hint() << "\n";
    return 1;
  }
  return 0;
}
