// sts_suite.h - the seven SentEval STS tasks (STS12-16, STS-B, SICK-R) and where their files are.
//
// The task table is fixed by SentEval (docs/method.md section 7): STS12-16 are scored in the
// "all" setting (the year's subsets concatenated), STS-B and SICK-R on their test split; other
// splits (train, dev/trial) are loaded too when present so they can be reported beside it.
// A task whose files are absent is returned as missing with the reason (never as a zero score).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "data/sts_readers.h"

namespace simcsepp::data {

enum class StsTaskKind { kYear, kBenchmark, kSick };

struct StsTaskSpec {
  std::string name;        // SentEval's name: STS12 ... STSBenchmark, SICKRelatedness
  std::string short_name;  // table label: STS12 ... STS-B, SICK-R
  StsTaskKind kind;
  std::string folder;              // STS12-en-test, STSBenchmark, SICK
  std::vector<std::string> parts;  // year: subsets; benchmark/SICK: splits (train, dev, test)
  std::string primary;             // "all" for a year, else the scored split ("test")
};

// STS12, STS13, STS14, STS15, STS16, STSBenchmark, SICKRelatedness, in that order.
const std::vector<StsTaskSpec>& senteval_sts_tasks();

// Looks a task up by SentEval name or short name (case-insensitive; "STSB", "STS-B", "SICK-R",
// "SICKRelatedness" ...). Throws simcsepp::Error listing the valid names otherwise.
const StsTaskSpec& find_sts_task(const std::string& name);

// One subset or split: its pairs when its files exist, else why it is missing.
struct StsPart {
  std::string name;
  std::vector<std::string> files;  // the files read (or looked for)
  std::optional<StsPairSet> pairs;
  std::string missing;  // non-empty when pairs is empty: which file is absent
};

struct LoadedStsTask {
  const StsTaskSpec* spec = nullptr;
  std::string folder;                 // resolved folder ("" when not found)
  std::vector<StsPart> parts;         // in spec->parts order
  std::optional<StsPairSet> primary;  // "all" concatenation (every subset present) or test split
  std::string missing;                // non-empty when primary is empty
};

// Finds the task's folder under `senteval_data` (SentEval's data/downstream: STS/<folder> or
// SICK/; a flat folder holding STS12-en-test/, STSBenchmark/, SICK/ works too) and reads every
// part that exists. Files that exist but are malformed throw simcsepp::Error.
LoadedStsTask load_sts_task(const StsTaskSpec& spec, const std::string& senteval_data);

}  // namespace simcsepp::data
