// bench_tokenizer.cpp - throughput of the WordPiece tokenizer and of the corpus reader.
// A benchmark, not a test: results go to docs/data.md (driver: bench/bench_tokenizer.py, which
// also times Hugging Face `tokenizers` on the same sentences in the same run).
//
// usage:
//   bench_tokenizer tokenize VOCAB THREADS REPEAT FILE...   sentences/s of tokenize_ids
//   bench_tokenizer reader   VOCAB BATCH STEPS FILE...      prep to a temp dir, then batches/s
// Each prints one JSON line.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "data/corpus_reader.h"
#include "data/prep.h"
#include "data/wordpiece_tokenizer.h"

using namespace simcsepp::data;

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<std::string> read_lines(const std::vector<std::string>& files) {
  std::vector<std::string> lines;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
  }
  return lines;
}

int bench_tokenize(const std::string& vocab, int threads, int repeat, const std::vector<std::string>& files) {
  const auto tok = WordPieceTokenizer::from_vocab_file(vocab);
  const auto lines = read_lines(files);
  double best = 1e30;
  int64_t tokens = 0;
  for (int r = 0; r < repeat; ++r) {
    std::vector<int64_t> counts(static_cast<size_t>(threads), 0);
    const double t0 = now_s();
    std::vector<std::thread> workers;
    for (int w = 0; w < threads; ++w) {
      workers.emplace_back([&, w] {
        std::vector<int32_t> ids;
        const size_t begin = lines.size() * static_cast<size_t>(w) / static_cast<size_t>(threads);
        const size_t end = lines.size() * static_cast<size_t>(w + 1) / static_cast<size_t>(threads);
        for (size_t i = begin; i < end; ++i) {
          ids.clear();
          tok.tokenize_ids(lines[i], ids);
          counts[static_cast<size_t>(w)] += static_cast<int64_t>(ids.size());
        }
      });
    }
    for (auto& t : workers) t.join();
    best = std::min(best, now_s() - t0);
    tokens = 0;
    for (auto c : counts) tokens += c;
  }
  std::printf(
      "{\"mode\": \"tokenize\", \"threads\": %d, \"sentences\": %zu, \"tokens\": %lld, \"seconds\": %.4f, "
      "\"sentences_per_s\": %.0f}\n",
      threads, lines.size(), static_cast<long long>(tokens), best, static_cast<double>(lines.size()) / best);
  return 0;
}

int bench_reader(const std::string& vocab, int64_t batch, int64_t steps, const std::vector<std::string>& files) {
  const auto dir = std::filesystem::temp_directory_path() / ("simcsepp_bench_reader_" + std::to_string(::getpid()));
  PrepOptions o;
  o.inputs = files;
  o.output_dir = dir.string();
  o.vocab_path = vocab;
  o.shard_rows = 10000;
  o.progress = false;
  const double p0 = now_s();
  const auto prep = run_prep(o);
  const double prep_s = now_s() - p0;
  ReaderOptions ro;
  ro.corpus_dir = dir.string();
  ro.local_batch = batch;
  ro.window_shards = 2;
  CorpusReader reader(ro);
  for (int i = 0; i < 5; ++i) reader.next();  // warm: page cache, first window
  const double t0 = now_s();
  int64_t rows = 0;
  for (int64_t s = 0; s < steps; ++s) rows += reader.next().columns[0].rows;
  const double t = now_s() - t0;
  // Not std::filesystem::remove_all: in a binary linked with libtorch it resolves to libtorch's
  // exported copy, which crashes (seen with torch 2.11.0). The directory is flat.
  for (const auto& e : std::filesystem::directory_iterator(dir)) std::filesystem::remove(e.path());
  std::filesystem::remove(dir);
  std::printf(
      "{\"mode\": \"reader\", \"rows\": %lld, \"prep_rows_per_s\": %.0f, \"batch\": %lld, \"steps\": %lld, "
      "\"seconds\": %.4f, \"sentences_per_s\": %.0f}\n",
      static_cast<long long>(prep.manifest.total_rows), static_cast<double>(prep.manifest.total_rows) / prep_s,
      static_cast<long long>(batch), static_cast<long long>(steps), t, static_cast<double>(rows) / t);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: bench_tokenizer tokenize|reader VOCAB N M FILE...\n");
    return 2;
  }
  const std::string mode = argv[1];
  const std::vector<std::string> files(argv + 5, argv + argc);
  try {
    if (mode == "tokenize") return bench_tokenize(argv[2], std::stoi(argv[3]), std::stoi(argv[4]), files);
    if (mode == "reader") return bench_reader(argv[2], std::stoll(argv[3]), std::stoll(argv[4]), files);
  } catch (const simcsepp::Error& e) {
    std::fprintf(stderr, "%s [%s] HINT: %s\n", e.what(), e.where().c_str(), e.hint().c_str());
    return 1;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
