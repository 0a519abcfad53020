// sts_readers.cpp - SentEval STS12-16, STS Benchmark and SICK readers (see sts_readers.h).
#include "data/sts_readers.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/error.h"

namespace simcsepp::data {

namespace {

// ---------------------------------------------------------------------------------------------
// Line and field helpers

// The whole file as lines: split on '\n', a trailing '\r' dropped (SICK ships with CRLF), a
// UTF-8 byte-order mark dropped, no phantom empty line after the final newline (like Python's
// str.splitlines, which SentEval uses).
std::vector<std::string> read_lines(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error("cannot open " + what, path,
                "check --senteval-data: it should point at SentEval's data/downstream folder");
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    if (tab == std::string::npos) {
      fields.push_back(line.substr(start));
      return fields;
    }
    fields.push_back(line.substr(start, tab - start));
    start = tab + 1;
  }
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_blank(s[b])) ++b;
  while (e > b && is_blank(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string where(const std::string& path, size_t line_index) { return path + ":" + std::to_string(line_index + 1); }

// A finite number, the whole (trimmed) field; anything else is an error at path:line.
double parse_score(const std::string& field, const std::string& path, size_t line_index, const std::string& column) {
  const std::string t = trim(field);
  if (!t.empty()) {
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (errno == 0 && end == t.c_str() + t.size() && std::isfinite(v)) return v;
  }
  throw Error("the " + column + " '" + field + "' is not a number", where(path, line_index),
              "each score must be a plain decimal number; is the file truncated or from another "
              "data set?");
}

}  // namespace

// ---------------------------------------------------------------------------------------------

void StsPairSet::append(const StsPairSet& other) {
  first.insert(first.end(), other.first.begin(), other.first.end());
  second.insert(second.end(), other.second.begin(), other.second.end());
  gold.insert(gold.end(), other.gold.begin(), other.gold.end());
}

std::string normalize_whitespace(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char c : text) {
    if (is_blank(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

StsPairSet read_sts_subset(const std::string& input_path, const std::string& gold_path) {
  const auto inputs = read_lines(input_path, "STS input file");
  const auto golds = read_lines(gold_path, "STS gold-score file");
  if (inputs.size() != golds.size()) {
    throw Error("the input file has " + std::to_string(inputs.size()) + " lines but its gold file " + gold_path +
                    " has " + std::to_string(golds.size()),
                input_path,
                "STS.input.<subset>.txt and STS.gs.<subset>.txt must have one line per pair; "
                "re-download the SentEval data");
  }
  StsPairSet set;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto fields = split_tabs(inputs[i]);
    if (fields.size() != 2) {
      throw Error("expected 2 tab-separated sentences, found " + std::to_string(fields.size()) + " field(s)",
                  where(input_path, i), "each STS input line is 'sentence1<TAB>sentence2'");
    }
    // SentEval skips pairs without a gold score (some subsets leave lines empty).
    if (trim(golds[i]).empty()) continue;
    set.gold.push_back(parse_score(golds[i], gold_path, i, "gold score"));
    set.first.push_back(normalize_whitespace(fields[0]));
    set.second.push_back(normalize_whitespace(fields[1]));
  }
  return set;
}

StsPairSet read_stsbenchmark(const std::string& csv_path) {
  const auto lines = read_lines(csv_path, "STS Benchmark file");
  StsPairSet set;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string line = trim(lines[i]);
    if (line.empty()) continue;
    const auto fields = split_tabs(line);
    if (fields.size() < 7) {
      throw Error(
          "expected at least 7 tab-separated columns (genre, file, year, id, score, s1, "
          "s2), found " +
              std::to_string(fields.size()),
          where(csv_path, i), "is this SentEval's STSBenchmark/sts-*.csv?");
    }
    set.gold.push_back(parse_score(fields[4], csv_path, i, "score (column 5)"));
    set.first.push_back(normalize_whitespace(fields[5]));
    set.second.push_back(normalize_whitespace(fields[6]));
  }
  return set;
}

StsPairSet read_sick(const std::string& path) {
  const auto lines = read_lines(path, "SICK file");
  StsPairSet set;
  // Line 0 is the header (pair_ID, sentence_A, ...), skipped as SentEval does.
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string line = trim(lines[i]);
    if (line.empty()) continue;
    const auto fields = split_tabs(line);
    if (fields.size() < 4) {
      throw Error(
          "expected at least 4 tab-separated columns (pair_ID, sentence_A, sentence_B, "
          "relatedness_score), found " +
              std::to_string(fields.size()),
          where(path, i), "is this SentEval's SICK/SICK_*.txt?");
    }
    set.gold.push_back(parse_score(fields[3], path, i, "relatedness_score (column 4)"));
    set.first.push_back(normalize_whitespace(fields[1]));
    set.second.push_back(normalize_whitespace(fields[2]));
  }
  return set;
}

}  // namespace simcsepp::data
