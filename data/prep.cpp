// prep.cpp - the prep pipeline (see prep.h): read -> tokenize in parallel -> shard -> manifest.
#include "data/prep.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <sstream>
#include <thread>

#include "cluster/base/error.h"
#include "cluster/base/log.h"
#include "data/sha256.h"
#include "data/shard_file.h"
#include "data/text_source.h"
#include "data/wordpiece_tokenizer.h"

namespace simcsepp::data {

namespace fs = std::filesystem;

namespace {

constexpr size_t kChunkRecords = 2048;

bool is_blank(const std::string& s) {
  for (unsigned char c : s) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\v' && c != '\f') return false;
  }
  return true;
}

std::string shard_name(size_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05zu.h5", index);
  return buf;
}

// A chunk of records and, after tokenization, their rows.
struct Chunk {
  std::vector<SourceRecord> records;
  std::vector<int32_t> input_index;
  // Outputs, per kept record: ids per column, and counts.
  std::vector<std::vector<std::vector<int32_t>>> rows;  // [record][column] -> ids
  std::vector<int64_t> row_line;
  std::vector<int32_t> row_input;
  std::vector<int64_t> empty, truncated, invalid;  // per input index (sized by caller)
};

void tokenize_chunk(const WordPieceTokenizer& tok, int max_len, Chunk& c) {
  for (size_t i = 0; i < c.records.size(); ++i) {
    const auto& rec = c.records[i];
    const int32_t in = c.input_index[i];
    bool blank = false;
    for (const auto& f : rec.fields) blank = blank || is_blank(f);
    if (blank) {
      ++c.empty[static_cast<size_t>(in)];
      continue;
    }
    std::vector<std::vector<int32_t>> cols;
    bool any_cut = false;
    for (const auto& f : rec.fields) {
      bool cut = false;
      cols.push_back(tok.encode(f, max_len, &cut, &c.invalid[static_cast<size_t>(in)]));
      any_cut = any_cut || cut;
    }
    if (any_cut) ++c.truncated[static_cast<size_t>(in)];
    c.rows.push_back(std::move(cols));
    c.row_line.push_back(rec.line);
    c.row_input.push_back(in);
  }
}

std::string fingerprint_of(const PrepOptions& o, const WordPieceTokenizer& tok, const std::vector<std::string>& cols) {
  Sha256 h;
  std::ostringstream s;
  s << "schema=" << kShardSchemaVersion << ";vocab=" << tok.vocab_sha256() << ";max_len=" << o.max_len
    << ";lowercase=" << o.lowercase << ";shard_rows=" << o.shard_rows << ";columns=";
  for (const auto& c : cols) s << c << ",";
  for (const auto& in : o.inputs) {
    std::error_code ec;
    const auto size = fs::file_size(in, ec);
    const auto mtime = fs::last_write_time(in, ec).time_since_epoch().count();
    s << ";input=" << fs::absolute(in).string() << ":" << size << ":" << mtime;
  }
  h.update(s.str());
  return h.hex_digest();
}

// Progress: bytes of input consumed vs total.
class Progress {
 public:
  Progress(bool enabled, double interval_s, uint64_t total_bytes)
      : enabled_(enabled), tty_(isatty(STDERR_FILENO) != 0), interval_s_(interval_s), total_(total_bytes) {}
  void update(uint64_t bytes_done, int64_t rows) {
    if (!enabled_) return;
    const double t = seconds();
    if (t - last_ < (tty_ ? 0.2 : interval_s_)) return;
    last_ = t;
    const double frac = total_ ? std::min(1.0, static_cast<double>(bytes_done) / static_cast<double>(total_)) : 0;
    const double rate = t > 0 ? static_cast<double>(rows) / t : 0;
    const double eta = frac > 0 ? t * (1 - frac) / frac : 0;
    std::ostringstream line;
    line << std::fixed << std::setprecision(0);
    if (tty_) {
      const int width = 30, filled = static_cast<int>(frac * width);
      line << "\r[" << std::string(static_cast<size_t>(filled), '#')
           << std::string(static_cast<size_t>(width - filled), ' ') << "] " << frac * 100 << "% " << rows << " rows, "
           << rate << " rows/s, ETA " << eta << " s   ";
      std::fputs(line.str().c_str(), stderr);
      std::fflush(stderr);
      drew_ = true;
    } else {
      line << "prep: " << frac * 100 << "% of input, " << rows << " rows, " << rate << " rows/s, ETA " << eta << " s";
      LOG_INFO(line.str());
    }
  }
  void finish() {
    if (drew_) std::fputs("\n", stderr);
  }

 private:
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  bool enabled_, tty_;
  double interval_s_;
  uint64_t total_;
  double last_ = 0;
  bool drew_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

PrepResult run_prep(const PrepOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.inputs.empty()) throw Error("no input files", "--input", "give one or more text, .gz or .csv files");
  if (o.output_dir.empty()) throw Error("no output directory", "--output", "name a directory for the shards");
  if (o.shard_rows < 1) throw Error("shard rows must be positive", "--shard-rows", "");
  if (o.max_len < 2 || o.max_len > 65535)
    throw Error("max_len must be in [2, 65535]", "--max-len", "the recipe uses 32");
  const auto tok = WordPieceTokenizer::from_vocab_file(o.vocab_path, o.lowercase);

  // Open every input first: a wrong CSV header fails before anything is written.
  std::vector<std::unique_ptr<RecordReader>> readers;
  uint64_t total_bytes = 0;
  for (const auto& in : o.inputs) {
    readers.push_back(std::make_unique<RecordReader>(in));
    if (readers.back()->columns() != readers.front()->columns()) {
      throw Error("inputs mix formats (columns differ from " + o.inputs.front() + ")", in,
                  "prepare unsupervised text and supervised CSV into separate directories");
    }
    std::error_code ec;
    total_bytes += fs::file_size(in, ec);
  }
  const std::vector<std::string> columns = readers.front()->columns();

  PrepResult result;
  Manifest& m = result.manifest;
  m.vocab_sha256 = tok.vocab_sha256();
  m.vocab_size = tok.vocab_size();
  m.max_len = o.max_len;
  m.lowercase = o.lowercase;
  m.columns = columns;
  const bool uint16_ids = tok.vocab_size() <= 65536;
  m.id_dtype = uint16_ids ? "uint16" : "int32";
  m.fingerprint = fingerprint_of(o, tok, columns);

  fs::create_directories(o.output_dir);
  const fs::path manifest_path = fs::path(o.output_dir) / kManifestFileName;
  if (fs::exists(manifest_path)) {
    const Manifest old = Manifest::load(o.output_dir);
    if (old.fingerprint == m.fingerprint) {
      LOG_INFO("prep: " << manifest_path.string() << " already matches these inputs and settings; nothing to do");
      result.manifest = old;
      result.already_complete = true;
      return result;
    }
    if (!o.overwrite) {
      throw Error("output directory already holds a prepared corpus made from other inputs or settings",
                  manifest_path.string(), "use a new --output directory, or --overwrite to replace it");
    }
    fs::remove(manifest_path);  // from here on the directory is visibly unfinished
  }
  // Existing shards from an interrupted run with other settings are only replaced on request.
  for (const auto& e : fs::directory_iterator(o.output_dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
      fs::remove(e.path());  // leftovers of an interrupted write: never complete
    } else if (name.rfind("shard-", 0) == 0 && !o.overwrite) {
      std::string fp;
      try {
        fp = read_shard_attributes(e.path().string()).fingerprint;
      } catch (const Error& unreadable) {
        // Not "another prep": prep writes shards to .tmp and renames, so a damaged shard was cut
        // short or changed after it was written (copy, disk). Say so; never delete it silently.
        throw Error("shard is unreadable (truncated or corrupt): " + unreadable.message(), e.path().string(),
                    "delete this file and re-run the same prep command (it rewrites the missing shard), "
                    "or use --overwrite to replace the whole directory");
      }
      if (fp != m.fingerprint) {
        throw Error("output directory holds shards of another prep (other inputs or settings)", e.path().string(),
                    "use a new --output directory, or --overwrite to replace them");
      }
    }
  }

  for (const auto& in : o.inputs) m.inputs.push_back(InputSummary{in});
  Progress progress(o.progress, o.progress_interval_s, total_bytes);
  const int threads = std::max(1, o.threads);

  ShardData shard;
  shard.columns.resize(columns.size());
  auto flush_shard = [&] {
    if (shard.rows() == 0) return;
    const size_t index = m.shards.size();
    const std::string name = shard_name(index);
    const std::string path = (fs::path(o.output_dir) / name).string();
    ShardAttributes a{kShardSchemaVersion, m.vocab_sha256, m.max_len,   m.lowercase, columns,
                      m.fingerprint,       m.total_rows,   shard.rows()};
    bool reuse = false;
    if (fs::exists(path)) {
      // Reused only when it reads back whole (attributes and every dataset): a shard whose data
      // was cut short after its header must be written again, not hashed into the manifest.
      try {
        ShardAttributes old;
        const ShardData data = read_shard(path, &old);
        reuse = old.fingerprint == a.fingerprint && old.first_row == a.first_row && old.rows == a.rows &&
                data.rows() == a.rows;
      } catch (const Error& e) {
        LOG_WARN("prep: rewriting " << path << ": " << e.what());
      }
    }
    if (reuse) {
      ++result.shards_reused;
    } else {
      write_shard(path, shard, a, uint16_ids);
      ++result.shards_written;
    }
    m.shards.push_back(ShardEntry{name, shard.rows(), m.total_rows, sha256_file(path)});
    m.total_rows += shard.rows();
    shard = ShardData{};
    shard.columns.resize(columns.size());
  };

  // Main loop: fill up to 4*threads chunks, tokenize them in parallel, append in order.
  size_t reader_index = 0;
  uint64_t bytes_done_before = 0;
  int64_t rows_seen = 0;
  for (;;) {
    std::vector<Chunk> chunks;
    while (chunks.size() < static_cast<size_t>(4 * threads) && reader_index < readers.size()) {
      Chunk c;
      c.empty.assign(o.inputs.size(), 0), c.truncated.assign(o.inputs.size(), 0), c.invalid.assign(o.inputs.size(), 0);
      SourceRecord rec;
      while (c.records.size() < kChunkRecords && reader_index < readers.size()) {
        if (readers[reader_index]->next(rec)) {
          c.records.push_back(rec);
          c.input_index.push_back(static_cast<int32_t>(reader_index));
        } else {
          m.inputs[reader_index].lines = readers[reader_index]->lines_read() - (columns.size() > 1 ? 1 : 0);
          std::error_code ec;
          bytes_done_before += fs::file_size(o.inputs[reader_index], ec);
          readers[reader_index].reset();
          ++reader_index;
        }
      }
      if (!c.records.empty()) chunks.push_back(std::move(c));
    }
    if (chunks.empty()) break;
    std::vector<std::thread> workers;
    for (int w = 1; w < threads; ++w) {
      workers.emplace_back([&, w] {
        for (size_t k = static_cast<size_t>(w); k < chunks.size(); k += static_cast<size_t>(threads)) {
          tokenize_chunk(tok, o.max_len, chunks[k]);
        }
      });
    }
    for (size_t k = 0; k < chunks.size(); k += static_cast<size_t>(threads)) tokenize_chunk(tok, o.max_len, chunks[k]);
    for (auto& t : workers) t.join();
    for (auto& c : chunks) {
      for (size_t i = 0; i < o.inputs.size(); ++i) {
        m.inputs[i].empty += c.empty[i];
        m.inputs[i].truncated += c.truncated[i];
        m.inputs[i].invalid_utf8 += c.invalid[i];
      }
      for (size_t r = 0; r < c.rows.size(); ++r) {
        for (size_t col = 0; col < columns.size(); ++col) {
          auto& sc = shard.columns[col];
          sc.ids.insert(sc.ids.end(), c.rows[r][col].begin(), c.rows[r][col].end());
          sc.offsets.push_back(static_cast<int64_t>(sc.ids.size()));
        }
        shard.source_line.push_back(c.row_line[r]);
        shard.source_input.push_back(c.row_input[r]);
        ++m.inputs[static_cast<size_t>(c.row_input[r])].rows;
        ++rows_seen;
        if (shard.rows() == o.shard_rows) flush_shard();
      }
    }
    progress.update(bytes_done_before, rows_seen);
  }
  flush_shard();
  progress.finish();
  if (m.total_rows == 0) {
    throw Error("the inputs contain no non-empty lines", o.inputs.front(), "check the input files");
  }
  // Shards beyond the last one (from an older, larger run with other settings) are removed.
  for (size_t i = m.shards.size();; ++i) {
    const fs::path extra = fs::path(o.output_dir) / shard_name(i);
    if (!fs::exists(extra)) break;
    fs::remove(extra);
  }
  m.save(o.output_dir);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

std::string format_prep_summary(const PrepResult& r) {
  const Manifest& m = r.manifest;
  std::ostringstream s;
  int64_t lines = 0, empty = 0, truncated = 0, invalid = 0;
  for (const auto& in : m.inputs) {
    s << "  " << in.path << ": " << in.lines << " lines, " << in.rows << " rows, " << in.empty << " empty skipped, "
      << in.truncated << " truncated, " << in.invalid_utf8 << " invalid UTF-8 replaced\n";
    lines += in.lines, empty += in.empty, truncated += in.truncated, invalid += in.invalid_utf8;
  }
  s << "  total: " << lines << " lines, " << m.total_rows << " rows in " << m.shards.size() << " shards ("
    << r.shards_written << " written, " << r.shards_reused << " reused), " << empty << " empty skipped, " << truncated
    << " truncated to max_len " << m.max_len << ", " << invalid << " invalid UTF-8 replaced";
  if (r.already_complete) s << " (already complete: nothing done)";
  if (r.seconds > 0) s << ", " << std::fixed << std::setprecision(1) << r.seconds << " s";
  return s.str();
}

}  // namespace simcsepp::data
