// dedup_key.cpp - normalisation, 128-bit key and first-occurrence selection (see dedup_key.h).
#include "data/dedup_key.h"

#include <algorithm>
#include <cstring>

namespace simcsepp::data {

namespace {

bool ascii_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

// Two independent 64-bit lanes, each a multiply-xorshift over 8-byte words (a streaming variant
// of splitmix64's finaliser); length folded in so prefixes differ.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

void hash_into(const std::string& s, uint64_t& a, uint64_t& b) {
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    a = mix(a ^ w) + 0x9e3779b97f4a7c15ULL;
    b = mix(b + w * 0xc2b2ae3d27d4eb4fULL) ^ 0x165667b19e3779f9ULL;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  a = mix(a ^ tail ^ (static_cast<uint64_t>(s.size()) << 56));
  b = mix(b + tail * 0xc2b2ae3d27d4eb4fULL + s.size());
}

}  // namespace

std::string normalise_for_dedup(const std::string& text, bool lowercase) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (unsigned char c : text) {
    if (ascii_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' '), pending_space = false;
    out.push_back(lowercase && c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c));
  }
  return out;
}

DedupKey dedup_key(const std::vector<std::string>& fields, bool lowercase) {
  uint64_t a = 0x243f6a8885a308d3ULL, b = 0x13198a2e03707344ULL;
  for (const auto& f : fields) {
    hash_into(normalise_for_dedup(f, lowercase), a, b);
    a = mix(a ^ 0x1f);  // field separator
    b = mix(b + 0x1f);
  }
  return DedupKey{a, b};
}

std::vector<int64_t> later_occurrences(std::vector<KeyedRecord>& records) {
  std::sort(records.begin(), records.end(), [](const KeyedRecord& x, const KeyedRecord& y) {
    return x.key != y.key ? x.key < y.key : x.ordinal < y.ordinal;
  });
  std::vector<int64_t> dups;
  for (size_t i = 1; i < records.size(); ++i) {
    if (records[i].key == records[i - 1].key) dups.push_back(records[i].ordinal);
  }
  std::sort(dups.begin(), dups.end());
  return dups;
}

}  // namespace simcsepp::data
