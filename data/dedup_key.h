// dedup_key.h - prep-time deduplication: the key of a record, and first occurrences.
//
// Normalisation (before hashing): leading and trailing ASCII whitespace (space, \t, \r, \n, \v,
// \f) removed, each inner run of it replaced by one space; for an uncased prep (the default)
// ASCII A-Z lowercased as well. Nothing else (no Unicode folding): two records are duplicates
// when these normalised texts are byte-identical (CSV: every column, in order). The key is a
// 128-bit hash of that text (collision chance ~N^2/2^129: 3e-21 for 10^9 rows).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace simcsepp::data {

struct DedupKey {
  uint64_t hi = 0, lo = 0;
  bool operator==(const DedupKey&) const = default;
  auto operator<=>(const DedupKey&) const = default;
};

std::string normalise_for_dedup(const std::string& text, bool lowercase);
DedupKey dedup_key(const std::vector<std::string>& fields, bool lowercase);

// A record's key and its position in input order (the global ordinal of non-empty records).
struct KeyedRecord {
  DedupKey key;
  int64_t ordinal = 0;
};

// Sorts `records` in place and returns the ordinals of every record that is not the first (lowest
// ordinal) of its key, ascending. Exact for any split: a key's records all meet in one call.
std::vector<int64_t> later_occurrences(std::vector<KeyedRecord>& records);

}  // namespace simcsepp::data
