// basic_tokenizer.h - BERT's BasicTokenizer: text normalization and pre-tokenization into words.
//
// Follows the Hugging Face `tokenizers` BertNormalizer + BertPreTokenizer exactly (the reference
// oracle of the parity test), in this order per character:
//   1. clean text: drop NUL, U+FFFD and control/format/surrogate/private-use characters
//      (Unicode Cc Cf Cs Co, except \t \n \r; unassigned Cn stays); map whitespace to a separator;
//   2. CJK ideographs become words of their own;
//   3. uncased mode only: canonical decomposition (NFD) and removal of nonspacing marks (Mn);
//   4. uncased mode only: full Unicode lowercase (U+0130 -> "i" + U+0307);
//   5. split on whitespace; every punctuation character (ASCII punctuation or Unicode P*)
//      is a word of its own.
// Unicode data comes from utf8proc. Invalid UTF-8 is replaced by U+FFFD (then dropped by step 1)
// and counted. Thread-safe: const methods keep no state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace simcsepp::data {

// One word of the pre-tokenized text: bytes [begin, begin+size) of Words::text.
struct WordSpan {
  uint32_t begin = 0;
  uint32_t size = 0;
  uint32_t num_chars = 0;  // code points, for WordPiece's max-characters-per-word rule
};

// Output buffer, reused across calls to avoid allocation in the hot loop.
struct Words {
  std::string text;  // normalized UTF-8 of all words, concatenated
  std::vector<WordSpan> spans;
  void clear() {
    text.clear();
    spans.clear();
  }
  std::string_view word(size_t i) const { return std::string_view(text).substr(spans[i].begin, spans[i].size); }
};

class BasicTokenizer {
 public:
  explicit BasicTokenizer(bool lowercase = true) : lowercase_(lowercase) {}

  // Appends the words of `text` to `out`. Returns the number of invalid UTF-8 sequences replaced.
  int64_t split(std::string_view text, Words& out) const;

  // Convenience for tests: the words as strings.
  std::vector<std::string> split(std::string_view text) const;

  bool lowercase() const { return lowercase_; }

 private:
  bool lowercase_;
};

// Character classes, exposed for tests.
bool is_bert_whitespace(char32_t cp);
bool is_bert_control(char32_t cp);
bool is_bert_punctuation(char32_t cp);
bool is_cjk_ideograph(char32_t cp);

}  // namespace simcsepp::data
