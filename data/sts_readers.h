// sts_readers.h - readers for the SentEval STS file formats (docs/method.md section 7).
//
// Three formats, each read exactly as SentEval reads it, so scores match the published protocol:
//   - STS12..16:  STS.input.<subset>.txt ("s1<TAB>s2" per line) + STS.gs.<subset>.txt (one score
//                 per line; pairs whose gold line is empty are skipped, as SentEval does);
//   - STSBenchmark: sts-{train,dev,test}.csv, tab-separated genre, file, year, id, score, s1, s2;
//                 columns after the 7th (present in some raw rows) are ignored;
//   - SICK:       SICK_{train,trial,test_annotated}.txt, a header row, then pair_ID, sentence_A,
//                 sentence_B, relatedness_score, entailment_judgment (CRLF endings tolerated).
// Sentences are whitespace-normalised (split on blanks, joined with one space) like SentEval's
// `s.split()` + `' '.join(s)`. Bad input throws simcsepp::Error naming the file and line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace simcsepp::data {

// Sentence pairs with gold similarity scores; the three vectors have the same length.
struct StsPairSet {
  std::vector<std::string> first;
  std::vector<std::string> second;
  std::vector<double> gold;
  int64_t size() const { return static_cast<int64_t>(gold.size()); }
  // Appends `other` (the "all" setting concatenates the subsets of a year).
  void append(const StsPairSet& other);
};

// One STS12-16 subset: the input file and its gold-score file. Throws on a line-count mismatch,
// an input line without exactly two tab-separated sentences, or a non-numeric score.
StsPairSet read_sts_subset(const std::string& input_path, const std::string& gold_path);

// One STS Benchmark split (sts-train.csv, sts-dev.csv, sts-test.csv).
StsPairSet read_stsbenchmark(const std::string& csv_path);

// One SICK split (SICK_train.txt, SICK_trial.txt, SICK_test_annotated.txt); relatedness score.
StsPairSet read_sick(const std::string& path);

// SentEval's whitespace normalisation: runs of blanks -> one space, no leading/trailing blanks.
std::string normalize_whitespace(const std::string& text);

}  // namespace simcsepp::data
