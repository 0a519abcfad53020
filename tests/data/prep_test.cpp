// prep_test.cpp - `simcsepp prep` pipeline: counts against the shared inputs, formats (text, gzip,
// CSV), atomic/resumable writing, and the errors for bad input.
#include "data/prep.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>

#include "base/error.h"
#include "corpus_fixture.h"
#include "data/corpus_reader.h"
#include "data/shard_file.h"
#include "data/text_source.h"
#include "data/wordpiece_tokenizer.h"

namespace simcsepp::data {
namespace {

namespace fs = std::filesystem;
using testing::fresh_dir;
using testing::shared_data;
using testing::vocab_path;

// Independent count: lines with any non-whitespace byte (the file's last line may lack '\n').
int64_t count_nonblank_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) n += line.find_first_not_of(" \t\r\v\f") != std::string::npos;
  return n;
}

PrepOptions options_for(std::vector<std::string> inputs, const fs::path& out) {
  PrepOptions o;
  o.inputs = std::move(inputs);
  o.output_dir = out.string();
  o.vocab_path = vocab_path();
  o.progress = false;
  return o;
}

TEST(Prep, SharedCorporaRowCountsMatchTheInputs) {
  const auto dir = fresh_dir("prep_shared");
  std::vector<std::string> inputs;
  int64_t expected = 0;
  for (const char* name : {"wiki1m_head.txt", "leipzig_wikipedia_2016_10k.txt", "senteval_misc.txt"}) {
    inputs.push_back(shared_data() + "/corpus/" + name);
    expected += count_nonblank_lines(inputs.back());
  }
  auto o = options_for(inputs, dir / "text");
  o.shard_rows = 20000;
  const PrepResult r = run_prep(o);
  EXPECT_EQ(r.manifest.total_rows, expected);
  EXPECT_EQ(r.manifest.shards.size(), static_cast<size_t>((expected + 19999) / 20000));
  EXPECT_EQ(r.manifest.id_dtype, "uint16");
  EXPECT_EQ(r.manifest.inputs[0].lines, 11914);
  EXPECT_EQ(r.manifest.inputs[1].lines, 10000);
  EXPECT_EQ(r.manifest.inputs[2].lines, 29885);
  // Every shard reads back; the first row is the first line of wiki1m, tokenized.
  const Manifest m = Manifest::load(o.output_dir);
  int64_t rows = 0;
  for (const auto& s : m.shards) rows += read_shard(o.output_dir + "/" + s.file).rows();
  EXPECT_EQ(rows, expected);
  const ShardData first = read_shard(o.output_dir + "/" + m.shards[0].file);
  std::ifstream in(inputs[0]);
  std::string line;
  std::getline(in, line);
  const auto tok = WordPieceTokenizer::from_vocab_file(vocab_path());
  const auto ids = tok.encode(line, 32);
  const auto row = first.columns[0].row(0);
  EXPECT_EQ(std::vector<int32_t>(row.begin(), row.end()), ids);
  EXPECT_EQ(first.source_line[0], 1);

  // Supervised triplets: 5,864 rows of 3 columns.
  auto t = options_for({shared_data() + "/nli/snli_triplets.csv"}, dir / "nli");
  const PrepResult nli = run_prep(t);
  EXPECT_EQ(nli.manifest.total_rows, 5864);
  EXPECT_EQ(nli.manifest.columns, (std::vector<std::string>{"sent0", "sent1", "hard_neg"}));
  EXPECT_EQ(nli.manifest.inputs[0].lines, 5864);
  fs::remove_all(dir);
}

TEST(Prep, GzipAndPlainTextGiveIdenticalShardsAndCounts) {
  const auto dir = fresh_dir("prep_gz");
  const std::string text = "First line.\n\n   \nSecond line, a bit longer.\n" + std::string(300, 'x') + " y\nlast";
  std::ofstream(dir / "a.txt") << text;
  gzFile gz = gzopen((dir / "a.txt.gz").c_str(), "wb");
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  auto o = options_for({(dir / "a.txt").string()}, dir / "plain");
  o.max_len = 8;
  const PrepResult plain = run_prep(o);
  o.inputs = {(dir / "a.txt.gz").string()};
  o.output_dir = (dir / "gz").string();
  const PrepResult gzipped = run_prep(o);
  EXPECT_EQ(plain.manifest.total_rows, 4);
  EXPECT_EQ(plain.manifest.inputs[0].lines, 6);
  EXPECT_EQ(plain.manifest.inputs[0].empty, 2);
  EXPECT_EQ(plain.manifest.inputs[0].truncated, 1);
  EXPECT_EQ(gzipped.manifest.total_rows, 4);
  const auto a = read_shard(plain.manifest.shards.empty() ? "" : (dir / "plain" / "shard-00000.h5").string());
  const auto b = read_shard((dir / "gz" / "shard-00000.h5").string());
  EXPECT_EQ(a.columns[0].ids, b.columns[0].ids);
  EXPECT_EQ(a.source_line, (std::vector<int64_t>{1, 4, 5, 6}));
  fs::remove_all(dir);
}

TEST(Prep, InterruptedRunResumesAndRerunIsANoOp) {
  const auto dir = fresh_dir("prep_resume");
  auto r = testing::make_text_corpus(dir, 500, 100);
  const fs::path out = dir / "corpus";
  ASSERT_EQ(r.manifest.shards.size(), 5u);
  const Manifest before = r.manifest;
  auto o = options_for({(dir / "input.txt").string()}, out);
  o.shard_rows = 100;
  EXPECT_TRUE(run_prep(o).already_complete);

  // Simulate a crash: no manifest, last shard missing, a half-written temp file.
  fs::remove(out / "manifest.json");
  fs::remove(out / "shard-00004.h5");
  std::ofstream(out / "shard-00004.h5.tmp") << "partial";
  ReaderOptions unfinished;
  unfinished.corpus_dir = out.string();
  EXPECT_THROW(CorpusReader{unfinished}, Error);  // unfinished prep is refused
  const PrepResult resumed = run_prep(o);
  EXPECT_EQ(resumed.shards_reused, 4);
  EXPECT_EQ(resumed.shards_written, 1);
  EXPECT_FALSE(fs::exists(out / "shard-00004.h5.tmp"));
  ASSERT_EQ(resumed.manifest.shards.size(), before.shards.size());
  for (size_t i = 0; i < before.shards.size(); ++i) {
    EXPECT_EQ(resumed.manifest.shards[i].sha256, before.shards[i].sha256) << i;
  }

  // Other settings into the same directory: refused, nothing lost; allowed with overwrite.
  o.max_len = 16;
  EXPECT_THROW(run_prep(o), Error);
  EXPECT_EQ(Manifest::load(out.string()).max_len, 32);
  o.overwrite = true;
  EXPECT_EQ(run_prep(o).manifest.max_len, 16);
  fs::remove_all(dir);
}

TEST(Prep, BadInputErrorsNameTheFile) {
  const auto dir = fresh_dir("prep_errors");
  std::ofstream(dir / "bad.csv") << "premise,hypothesis\na,b\n";
  try {
    run_prep(options_for({(dir / "bad.csv").string()}, dir / "out"));
    FAIL() << "expected an error for a wrong CSV header";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), (dir / "bad.csv").string() + ":1");
    EXPECT_NE(std::string(e.what()).find("header"), std::string::npos);
  }
  std::ofstream(dir / "short.csv") << "sent0,sent1,hard_neg\na,b,c\n\"x, y\",z\n";
  try {
    run_prep(options_for({(dir / "short.csv").string()}, dir / "out"));
    FAIL() << "expected an error for a short record";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), (dir / "short.csv").string() + ":3");
  }
  auto o = options_for({(dir / "short.csv").string()}, dir / "out");
  o.vocab_path = (dir / "missing-vocab.txt").string();
  try {
    run_prep(o);
    FAIL() << "expected an error for a missing vocabulary";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), o.vocab_path);
  }
  fs::remove_all(dir);
}

TEST(Prep, ReaderRefusesMissingCorruptAndForeignShards) {
  const auto dir = fresh_dir("prep_corrupt");
  testing::make_text_corpus(dir, 300, 100);
  const fs::path out = dir / "corpus";
  ReaderOptions ro;
  ro.corpus_dir = out.string();
  ro.local_batch = 8;
  // Truncated shard: the checksum (or HDF5) catches it when the shard is loaded.
  fs::copy_file(out / "shard-00001.h5", dir / "backup.h5");
  fs::resize_file(out / "shard-00001.h5", fs::file_size(out / "shard-00001.h5") / 2);
  try {
    CorpusReader reader(ro);
    for (int i = 0; i < 100; ++i) reader.next();
    FAIL() << "expected an error for a truncated shard";
  } catch (const Error& e) {
    EXPECT_NE(e.where().find("shard-00001.h5"), std::string::npos) << e.what();
  }
  ro.verify_checksums = false;
  try {
    CorpusReader reader(ro);
    for (int i = 0; i < 100; ++i) reader.next();
    FAIL() << "expected an error for a truncated shard without checksums";
  } catch (const Error& e) {
    EXPECT_NE(e.where().find("shard-00001.h5"), std::string::npos) << e.what();
  }
  // Missing shard: refused at construction, naming it.
  fs::remove(out / "shard-00001.h5");
  try {
    CorpusReader reader(ro);
    FAIL() << "expected an error for a missing shard";
  } catch (const Error& e) {
    EXPECT_NE(e.where().find("shard-00001.h5"), std::string::npos);
  }
  // A shard from another prep (other max_len) in its place: refused when loaded (each rank opens
  // only its own shards, so the check moved from the constructor to the load).
  const auto other = fresh_dir("prep_other");
  {
    std::ofstream(other / "x.txt") << "one\ntwo\n";
    auto o = options_for({(other / "x.txt").string()}, other / "c");
    o.max_len = 16;
    run_prep(o);
  }
  fs::copy_file(other / "c" / "shard-00000.h5", out / "shard-00001.h5");
  try {
    CorpusReader reader(ro);
    for (int i = 0; i < 100; ++i) reader.next();
    FAIL() << "expected an error for a shard of another prep";
  } catch (const Error& e) {
    EXPECT_NE(e.where().find("shard-00001.h5"), std::string::npos) << e.what();
  }
  fs::remove_all(other);
  fs::remove_all(dir);
}

TEST(CsvParser, QuotesEscapesAndContinuations) {
  std::vector<std::string> f;
  EXPECT_TRUE(parse_csv_record("a,\"b, c\",\"say \"\"hi\"\"\"", f));
  EXPECT_EQ(f, (std::vector<std::string>{"a", "b, c", "say \"hi\""}));
  EXPECT_FALSE(parse_csv_record("a,\"open", f));
  EXPECT_TRUE(parse_csv_record("a,\"open\nclosed\",c", f));
  EXPECT_EQ(f, (std::vector<std::string>{"a", "open\nclosed", "c"}));
  EXPECT_TRUE(parse_csv_record(",,", f));
  EXPECT_EQ(f.size(), 3u);
}

}  // namespace
}  // namespace simcsepp::data
