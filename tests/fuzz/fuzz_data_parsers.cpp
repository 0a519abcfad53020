// fuzz_data_parsers.cpp - libFuzzer target for the data/ input parsers: the CSV record parser,
// the BERT basic tokenizer (UTF-8 decoding, Unicode normalization) and WordPiece encoding.
//
// Properties checked on every input (a violation aborts, which libFuzzer reports):
//   - parse_csv_record: a complete record, re-quoted and parsed again, gives the same fields;
//   - encode: starts with [CLS], ends with [SEP], at most max_len ids, every id in the vocabulary;
//   - the basic tokenizer never produces an empty word or one with whitespace in it.
// Built only with -DSIMCSEPP_FUZZ=ON and clang (tests/data/tests.cmake); see docs/data.md.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "data/basic_tokenizer.h"
#include "data/text_source.h"
#include "data/wordpiece_tokenizer.h"

using namespace simcsepp::data;

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

const WordPieceTokenizer& tokenizer() {
  static const WordPieceTokenizer tok = [] {
    if (const char* vocab = std::getenv("SIMCSEPP_FUZZ_VOCAB")) return WordPieceTokenizer::from_vocab_file(vocab);
    return WordPieceTokenizer::from_tokens(
        {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "##a", "##b", "ab", ",", "\"", "é", "中", "##é"});
  }();
  return tok;
}

std::string quote(const std::string& field) {
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  std::vector<std::string> fields, again;
  if (parse_csv_record(text, fields)) {
    std::string joined;
    for (size_t i = 0; i < fields.size(); ++i) joined += (i ? "," : "") + quote(fields[i]);
    require(parse_csv_record(joined, again));
    require(again == fields);
  }

  const auto& tok = tokenizer();
  const int max_len = 2 + static_cast<int>(size % 40);
  const auto ids = tok.encode(text, max_len);
  require(ids.size() >= 2 && ids.size() <= static_cast<size_t>(max_len));
  require(ids.front() == tok.cls_id() && ids.back() == tok.sep_id());
  for (int32_t id : ids) require(id >= 0 && id < tok.vocab_size());

  for (const auto& word : BasicTokenizer(size % 2 == 0).split(text)) {
    require(!word.empty());
    require(word.find_first_of(" \t\n\r") == std::string::npos);
  }
  return 0;
}
