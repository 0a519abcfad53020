// basic_tokenizer.cpp - BERT text normalization and pre-tokenization (see basic_tokenizer.h).
//
// ASCII takes a table-driven fast path (the bulk of English corpora); everything else goes
// through utf8proc one code point at a time.
#include "data/basic_tokenizer.h"

#include <utf8proc.h>

#include <array>

#include "data/utf8_decode.h"

namespace simcsepp::data {

namespace {

enum class Ascii : uint8_t { kDrop, kSpace, kPunct, kWord };

constexpr std::array<Ascii, 128> make_ascii_table() {
  std::array<Ascii, 128> t{};
  for (int c = 0; c < 128; ++c) {
    if (c == '\t' || c == '\n' || c == '\r' || c == ' ') {
      t[c] = Ascii::kSpace;
    } else if (c < 32 || c == 127) {
      t[c] = Ascii::kDrop;  // NUL and other C0 controls (incl. \v \f: filtered before whitespace)
    } else if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) {
      t[c] = Ascii::kPunct;
    } else {
      t[c] = Ascii::kWord;
    }
  }
  return t;
}
constexpr std::array<Ascii, 128> kAscii = make_ascii_table();

// Builds words into a Words buffer; a word is "open" while bytes are appended to it.
class WordBuilder {
 public:
  explicit WordBuilder(Words& out) : out_(out) {}
  void close() {
    if (open_) {
      out_.spans.back().size = static_cast<uint32_t>(out_.text.size() - out_.spans.back().begin);
      open_ = false;
    }
  }
  void open() {
    if (!open_) {
      out_.spans.push_back(WordSpan{static_cast<uint32_t>(out_.text.size()), 0, 0});
      open_ = true;
    }
  }
  void add_ascii(char c) {
    open();
    out_.text.push_back(c);
    ++out_.spans.back().num_chars;
  }
  void add(char32_t cp) {
    open();
    append_utf8(out_.text, cp);
    ++out_.spans.back().num_chars;
  }
  void add_alone(char32_t cp) {
    close();
    add(cp);
    close();
  }

 private:
  Words& out_;
  bool open_ = false;
};

// Steps 3-5 for one code point that survived cleaning.
void emit_normalized(char32_t cp, bool lowercase, WordBuilder& words) {
  utf8proc_int32_t decomposed[32];
  int n = 1;
  decomposed[0] = static_cast<utf8proc_int32_t>(cp);
  if (lowercase) {
    int last_boundclass = 0;
    const auto r = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), decomposed, 32,
                                           static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE), &last_boundclass);
    n = r > 0 && r <= 32 ? static_cast<int>(r) : 1;
    if (r <= 0 || r > 32) decomposed[0] = static_cast<utf8proc_int32_t>(cp);
  }
  for (int i = 0; i < n; ++i) {
    char32_t c = static_cast<char32_t>(decomposed[i]);
    if (lowercase) {
      if (utf8proc_category(decomposed[i]) == UTF8PROC_CATEGORY_MN) continue;
      if (c == 0x130) {  // the one unconditional multi-character lowercase mapping
        words.add('i');
        words.add(0x307);
        continue;
      }
      c = static_cast<char32_t>(utf8proc_tolower(decomposed[i]));
    }
    if (is_bert_whitespace(c)) {
      words.close();
    } else if (is_bert_punctuation(c)) {
      words.add_alone(c);
    } else {
      words.add(c);
    }
  }
}

}  // namespace

bool is_bert_whitespace(char32_t cp) {
  // Rust's char::is_whitespace (Unicode White_Space), which the reference uses.
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_bert_control(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:  // unassigned code points (Cn) are kept, as the reference does
      return true;
    default:
      return false;
  }
}

bool is_bert_punctuation(char32_t cp) {
  if (cp < 128) return kAscii[cp] == Ascii::kPunct;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

int64_t BasicTokenizer::split(std::string_view text, Words& out) const {
  WordBuilder words(out);
  int64_t invalid_count = 0;
  size_t pos = 0;
  const size_t n = text.size();
  while (pos < n) {
    const auto byte = static_cast<unsigned char>(text[pos]);
    if (byte < 0x80) {
      ++pos;
      switch (kAscii[byte]) {
        case Ascii::kWord:
          words.add_ascii(lowercase_ && byte >= 'A' && byte <= 'Z' ? static_cast<char>(byte + 32)
                                                                   : static_cast<char>(byte));
          break;
        case Ascii::kSpace:
          words.close();
          break;
        case Ascii::kPunct:
          words.add_alone(byte);
          break;
        case Ascii::kDrop:
          break;
      }
      continue;
    }
    bool invalid = false;
    const char32_t cp = decode_utf8(text, pos, &invalid);
    if (invalid) ++invalid_count;
    if (cp == kReplacementChar || is_bert_control(cp)) continue;
    if (is_bert_whitespace(cp)) {
      words.close();
    } else if (is_cjk_ideograph(cp)) {
      words.close();
      emit_normalized(cp, lowercase_, words);
      words.close();
    } else {
      emit_normalized(cp, lowercase_, words);
    }
  }
  words.close();
  return invalid_count;
}

std::vector<std::string> BasicTokenizer::split(std::string_view text) const {
  Words words;
  split(text, words);
  std::vector<std::string> result;
  for (size_t i = 0; i < words.spans.size(); ++i) result.emplace_back(words.word(i));
  return result;
}

}  // namespace simcsepp::data
