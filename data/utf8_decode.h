// utf8_decode.h - strict UTF-8 decoding with replacement.
//
// Invalid input (bad lead byte, truncated or overlong sequence, surrogate, > U+10FFFF) decodes
// to U+FFFD and consumes one byte, so garbage never aborts a corpus run; callers count it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace simcsepp::data {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Decodes the code point at text[pos] and advances pos. Sets *invalid when it had to replace.
inline char32_t decode_utf8(std::string_view text, size_t& pos, bool* invalid) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  const unsigned char b0 = s[pos];
  if (b0 < 0x80) {
    ++pos;
    return b0;
  }
  int len = 0;
  char32_t cp = 0, min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  }
  if (len == 0 || pos + len > n) {
    ++pos;
    *invalid = true;
    return kReplacementChar;
  }
  for (int i = 1; i < len; ++i) {
    if ((s[pos + i] & 0xC0) != 0x80) {
      ++pos;
      *invalid = true;
      return kReplacementChar;
    }
    cp = (cp << 6) | (s[pos + i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++pos;
    *invalid = true;
    return kReplacementChar;
  }
  pos += len;
  return cp;
}

inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Replaces every invalid sequence by U+FFFD; returns how many were replaced.
inline int64_t sanitize_utf8(std::string_view text, std::string& out) {
  out.clear();
  int64_t replaced = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    bool invalid = false;
    const size_t start = pos;
    const char32_t cp = decode_utf8(text, pos, &invalid);
    if (invalid) {
      ++replaced;
      append_utf8(out, cp);
    } else {
      out.append(text.substr(start, pos - start));
    }
  }
  return replaced;
}

}  // namespace simcsepp::data
