// sts_suite.cpp - SentEval's STS task table and folder resolution (see sts_suite.h).
#include "data/sts_suite.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "base/error.h"

namespace simcsepp::data {

namespace fs = std::filesystem;

const std::vector<StsTaskSpec>& senteval_sts_tasks() {
  // Subset lists as in SentEval's senteval/sts.py; STS13 has no SMT subset (not redistributable).
  static const std::vector<StsTaskSpec> tasks = {
      {"STS12",
       "STS12",
       StsTaskKind::kYear,
       "STS12-en-test",
       {"MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"},
       "all"},
      {"STS13", "STS13", StsTaskKind::kYear, "STS13-en-test", {"FNWN", "headlines", "OnWN"}, "all"},
      {"STS14",
       "STS14",
       StsTaskKind::kYear,
       "STS14-en-test",
       {"deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"},
       "all"},
      {"STS15",
       "STS15",
       StsTaskKind::kYear,
       "STS15-en-test",
       {"answers-forums", "answers-students", "belief", "headlines", "images"},
       "all"},
      {"STS16",
       "STS16",
       StsTaskKind::kYear,
       "STS16-en-test",
       {"answer-answer", "headlines", "plagiarism", "postediting", "question-question"},
       "all"},
      {"STSBenchmark", "STS-B", StsTaskKind::kBenchmark, "STSBenchmark", {"train", "dev", "test"}, "test"},
      {"SICKRelatedness", "SICK-R", StsTaskKind::kSick, "SICK", {"train", "trial", "test"}, "test"},
  };
  return tasks;
}

namespace {

std::string canonical_key(const std::string& s) {
  std::string k;
  for (char c : s) {
    if (c == '-' || c == '_' || c == ' ') continue;
    k.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return k;
}

// The folder of a task under a SentEval data root, or "" if none of the usual places has it.
std::string resolve_folder(const StsTaskSpec& spec, const std::string& root) {
  const std::vector<fs::path> candidates = {fs::path(root) / "STS" / spec.folder, fs::path(root) / spec.folder,
                                            fs::path(root) / "downstream" / "STS" / spec.folder};
  for (const auto& c : candidates) {
    if (fs::is_directory(c)) return c.string();
  }
  if (spec.kind == StsTaskKind::kSick) {
    // SentEval keeps SICK beside STS/, i.e. data/downstream/SICK.
    for (const auto& c : {fs::path(root) / "downstream" / "SICK", fs::path(root) / "STS" / "SICK"}) {
      if (fs::is_directory(c)) return c.string();
    }
  }
  return {};
}

std::vector<std::string> part_files(const StsTaskSpec& spec, const std::string& folder, const std::string& part) {
  const fs::path dir(folder);
  switch (spec.kind) {
    case StsTaskKind::kYear:
      return {(dir / ("STS.input." + part + ".txt")).string(), (dir / ("STS.gs." + part + ".txt")).string()};
    case StsTaskKind::kBenchmark:
      return {(dir / ("sts-" + part + ".csv")).string()};
    case StsTaskKind::kSick:
      return {(dir / (part == "test" ? "SICK_test_annotated.txt" : "SICK_" + part + ".txt")).string()};
  }
  return {};
}

}  // namespace

const StsTaskSpec& find_sts_task(const std::string& name) {
  const std::string key = canonical_key(name);
  for (const auto& t : senteval_sts_tasks()) {
    if (key == canonical_key(t.name) || key == canonical_key(t.short_name)) return t;
  }
  if (key == "sick") return senteval_sts_tasks().back();
  std::string names;
  for (const auto& t : senteval_sts_tasks()) names += (names.empty() ? "" : ", ") + t.name;
  throw Error("unknown STS task '" + name + "'", "--tasks", "valid tasks: " + names + " (or STS-B, SICK-R)");
}

LoadedStsTask load_sts_task(const StsTaskSpec& spec, const std::string& senteval_data) {
  LoadedStsTask task;
  task.spec = &spec;
  task.folder = resolve_folder(spec, senteval_data);
  if (task.folder.empty()) {
    task.missing = "folder " + spec.folder + " not found under " + senteval_data;
    for (const auto& p : spec.parts) task.parts.push_back({p, {}, std::nullopt, "folder not found"});
    return task;
  }
  for (const auto& p : spec.parts) {
    StsPart part{p, part_files(spec, task.folder, p), std::nullopt, {}};
    for (const auto& f : part.files) {
      if (!fs::exists(f)) {
        part.missing = "file " + f + " not found";
        break;
      }
    }
    if (part.missing.empty()) {
      switch (spec.kind) {
        case StsTaskKind::kYear:
          part.pairs = read_sts_subset(part.files[0], part.files[1]);
          break;
        case StsTaskKind::kBenchmark:
          part.pairs = read_stsbenchmark(part.files[0]);
          break;
        case StsTaskKind::kSick:
          part.pairs = read_sick(part.files[0]);
          break;
      }
    }
    task.parts.push_back(std::move(part));
  }

  if (spec.kind == StsTaskKind::kYear) {
    // "all" is defined only over the complete year; a partial concatenation is not comparable.
    StsPairSet all;
    for (const auto& part : task.parts) {
      if (!part.pairs) {
        task.missing = "subset " + part.name + " incomplete (" + part.missing + ")";
        return task;
      }
      all.append(*part.pairs);
    }
    task.primary = std::move(all);
  } else {
    for (const auto& part : task.parts) {
      if (part.name != spec.primary) continue;
      if (part.pairs) {
        task.primary = *part.pairs;
      } else {
        task.missing = spec.primary + " split missing (" + part.missing + ")";
      }
    }
  }
  return task;
}

}  // namespace simcsepp::data
