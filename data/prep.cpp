// prep.cpp - the prep pipeline (see prep.h): plan -> write this part's shards -> manifest / part file.
#include "data/prep.h"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "base/error.h"
#include "base/log.h"
#include "data/input_files.h"
#include "data/plan_cursor.h"
#include "data/prep_plan.h"
#include "data/sha256.h"
#include "data/shard_file.h"
#include "data/wordpiece_tokenizer.h"

namespace simcsepp::data {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string shard_name(int64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05lld.h5", static_cast<long long>(index));
  return buf;
}

std::string fingerprint_of(const PrepOptions& o, const WordPieceTokenizer& tok, const std::vector<std::string>& cols,
                           const std::vector<PrepInput>& inputs) {
  Sha256 h;
  std::ostringstream s;
  s << "schema=" << kShardSchemaVersion << ";vocab=" << tok.vocab_sha256() << ";max_len=" << o.max_len
    << ";lowercase=" << o.lowercase << ";shard_rows=" << o.shard_rows << ";columns=";
  for (const auto& c : cols) s << c << ",";
  if (o.dedup) s << ";dedup=1";
  for (const auto& in : inputs) {
    std::error_code ec;
    const auto mtime = fs::last_write_time(in.path, ec).time_since_epoch().count();
    s << ";input=" << fs::absolute(in.path).string() << ":" << in.size << ":" << mtime;
  }
  h.update(s.str());
  return h.hex_digest();
}

// Progress: rows of this process's shards done vs planned.
class Progress {
 public:
  Progress(bool enabled, double interval_s, int64_t total_rows)
      : enabled_(enabled), tty_(isatty(STDERR_FILENO) != 0), interval_s_(interval_s), total_(total_rows) {}
  void update(int64_t rows) {
    if (!enabled_) return;
    const double t = seconds();
    if (t - last_ < (tty_ ? 0.2 : interval_s_)) return;
    last_ = t;
    const double frac = total_ ? std::min(1.0, static_cast<double>(rows) / static_cast<double>(total_)) : 0;
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
      line << "prep: " << frac * 100 << "% of this process's rows, " << rows << " rows, " << rate << " rows/s, ETA "
           << eta << " s";
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
  int64_t total_;
  double last_ = 0;
  bool drew_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Test hook: SIGKILL this process after it has written N shards (the resume tests).
int64_t kill_after_shards() {
  const char* v = std::getenv("SIMCSEPP_TEST_KILL_AFTER_SHARDS");
  return v && *v ? std::atoll(v) : -1;
}

struct TokenizedRows {
  std::vector<std::vector<std::vector<int32_t>>> ids;  // [row][column]
  std::map<int32_t, int64_t> truncated, invalid;       // per input
};

void tokenize_rows(const WordPieceTokenizer& tok, int max_len, const std::vector<PlannedRow>& rows, size_t from,
                   size_t to, TokenizedRows& out) {
  for (size_t i = from; i < to; ++i) {
    const auto& r = rows[i];
    std::vector<std::vector<int32_t>> cols;
    bool any_cut = false;
    int64_t invalid = 0;
    for (const auto& f : r.record.fields) {
      bool cut = false;
      cols.push_back(tok.encode(f, max_len, &cut, &invalid));
      any_cut = any_cut || cut;
    }
    if (any_cut) ++out.truncated[r.input];
    if (invalid) out.invalid[r.input] += invalid;
    out.ids.push_back(std::move(cols));
  }
}

json counts_json(const std::map<int32_t, int64_t>& m) {
  json a = json::array();
  for (const auto& [input, n] : m) a.push_back({input, n});
  return a;
}

// This process's shards [first, end): reuse finished ones, tokenize and write the rest.
struct PartWork {
  std::vector<ShardEntry> entries;
  std::map<int32_t, int64_t> truncated, invalid;
  int64_t written = 0, reused = 0, rows_tokenized = 0;
};

PartWork write_part(const PrepOptions& o, const PrepPlan& plan, const Manifest& m, const WordPieceTokenizer& tok,
                    int64_t first, int64_t end) {
  PartWork w;
  const bool uint16_ids = m.id_dtype == "uint16";
  const int threads = std::max(1, o.threads);
  const int64_t kill_after = kill_after_shards();
  PlanCursor cursor(plan);
  int64_t planned_rows = 0;
  for (int64_t k = first; k < end; ++k) planned_rows += std::min(plan.shard_rows, plan.total_rows - k * plan.shard_rows);
  Progress progress(o.progress, o.progress_interval_s, planned_rows);
  int64_t rows_done = 0;
  for (int64_t k = first; k < end; ++k) {
    const std::string name = shard_name(k);
    const std::string path = (fs::path(o.output_dir) / name).string();
    ShardAttributes a{kShardSchemaVersion, m.vocab_sha256, m.max_len, m.lowercase, m.columns, m.fingerprint,
                      k * plan.shard_rows, std::min(plan.shard_rows, plan.total_rows - k * plan.shard_rows), ""};
    ShardEntry entry{name, a.rows, a.first_row, ""};
    bool reuse = false;
    json record;
    if (fs::exists(path)) {
      // Reused only when it reads back whole (attributes and every dataset) and carries its prep
      // record: a shard cut short after its header must be written again, not hashed in.
      try {
        ShardAttributes old;
        const ShardData data = read_shard(path, &old);
        reuse = old.fingerprint == a.fingerprint && old.first_row == a.first_row && old.rows == a.rows &&
                data.rows() == a.rows && !old.prep_record.empty();
        if (reuse) record = json::parse(old.prep_record);
      } catch (const std::exception& e) {
        LOG_WARN("prep: rewriting " << path << ": " << e.what());
        reuse = false;
      }
    }
    if (!reuse) {
      fs::remove(path + ".tmp");
      cursor.seek(a.first_row);
      std::vector<PlannedRow> rows(static_cast<size_t>(a.rows));
      for (auto& r : rows) {
        if (!cursor.next(r)) throw Error("input changed while prep was reading it (fewer rows than planned)", path, "re-run prep on unchanging inputs");
      }
      // Tokenize on all threads: contiguous slices, joined in order (output independent of threads).
      std::vector<TokenizedRows> parts(static_cast<size_t>(threads));
      std::vector<std::thread> pool;
      const size_t n = rows.size();
      for (int t = 0; t < threads; ++t) {
        const size_t from = n * static_cast<size_t>(t) / static_cast<size_t>(threads);
        const size_t to = n * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
        if (t == threads - 1) {
          tokenize_rows(tok, m.max_len, rows, from, to, parts[static_cast<size_t>(t)]);
        } else {
          pool.emplace_back([&, from, to, t] { tokenize_rows(tok, m.max_len, rows, from, to, parts[static_cast<size_t>(t)]); });
        }
      }
      for (auto& t : pool) t.join();
      ShardData shard;
      shard.columns.resize(m.columns.size());
      std::map<int32_t, int64_t> truncated, invalid;
      size_t r = 0;
      for (auto& part : parts) {
        for (auto& row : part.ids) {
          for (size_t col = 0; col < m.columns.size(); ++col) {
            auto& sc = shard.columns[col];
            sc.ids.insert(sc.ids.end(), row[col].begin(), row[col].end());
            sc.offsets.push_back(static_cast<int64_t>(sc.ids.size()));
          }
          shard.source_line.push_back(rows[r].record.line);
          shard.source_input.push_back(rows[r].input);
          ++r;
        }
        for (const auto& [i, c] : part.truncated) truncated[i] += c;
        for (const auto& [i, c] : part.invalid) invalid[i] += c;
      }
      record = {{"first", {rows.front().input, rows.front().begin}},
                {"end", {rows.back().input, rows.back().end}},
                {"truncated", counts_json(truncated)},
                {"invalid_utf8", counts_json(invalid)}};
      a.prep_record = record.dump();
      write_shard(path, shard, a, uint16_ids);
      ++w.written;
      w.rows_tokenized += a.rows;
      if (kill_after >= 0 && w.written >= kill_after) {
        LOG_WARN("prep: SIMCSEPP_TEST_KILL_AFTER_SHARDS=" << kill_after << ": SIGKILL after " << name);
        std::raise(SIGKILL);
      }
    } else {
      ++w.reused;
    }
    entry.first_input = record.at("first").at(0).get<int32_t>(), entry.first_offset = record.at("first").at(1).get<int64_t>();
    entry.end_input = record.at("end").at(0).get<int32_t>(), entry.end_offset = record.at("end").at(1).get<int64_t>();
    for (const auto& c : record.at("truncated")) w.truncated[c.at(0).get<int32_t>()] += c.at(1).get<int64_t>();
    for (const auto& c : record.at("invalid_utf8")) w.invalid[c.at(0).get<int32_t>()] += c.at(1).get<int64_t>();
    entry.sha256 = sha256_file(path);
    w.entries.push_back(entry);
    rows_done += a.rows;
    progress.update(rows_done);
  }
  progress.finish();
  return w;
}

// One part's outcome, as stored in a part file or sent to rank 0.
std::string part_json(const Manifest& part_manifest, int part, int parts, int64_t total_shards, const PartWork& w) {
  json j = {{"part", part},
            {"parts", parts},
            {"total_shards", total_shards},
            {"shards_written", w.written},
            {"shards_reused", w.reused},
            {"rows_tokenized", w.rows_tokenized},
            {"manifest", json::parse(part_manifest.to_json())}};
  return j.dump(1);
}

// Joins part outcomes (in part order) into the manifest and the summed counters.
PrepResult merge_parts(const std::vector<std::string>& texts, const std::vector<std::string>& where) {
  PrepResult r;
  int64_t total_shards = -1;
  for (size_t p = 0; p < texts.size(); ++p) {
    json j;
    try {
      j = json::parse(texts[p]);
    } catch (const json::exception& e) {
      throw Error(std::string("part file is not valid JSON: ") + e.what(), where[p], "re-run that part");
    }
    const Manifest part = Manifest::parse(j.at("manifest").dump(), where[p]);
    if (p == 0) {
      r.manifest = part;
      r.manifest.shards.clear();
      for (auto& in : r.manifest.inputs) in.truncated = in.invalid_utf8 = 0;
      total_shards = j.at("total_shards").get<int64_t>();
    } else if (part.fingerprint != r.manifest.fingerprint || j.at("total_shards").get<int64_t>() != total_shards) {
      throw Error("part was made from other inputs or settings than part 0", where[p],
                  "re-run every part with the same inputs and options (or --overwrite them all)");
    }
    if (j.at("part").get<int>() != static_cast<int>(p) || j.at("parts").get<size_t>() != texts.size()) {
      throw Error("part file does not hold the part its name says", where[p], "re-run that part");
    }
    for (size_t i = 0; i < part.inputs.size() && i < r.manifest.inputs.size(); ++i) {
      r.manifest.inputs[i].truncated += part.inputs[i].truncated;
      r.manifest.inputs[i].invalid_utf8 += part.inputs[i].invalid_utf8;
    }
    for (const auto& s : part.shards) r.manifest.shards.push_back(s);
    r.shards_written += j.at("shards_written").get<int64_t>();
    r.shards_reused += j.at("shards_reused").get<int64_t>();
    r.rows_tokenized += j.at("rows_tokenized").get<int64_t>();
  }
  int64_t next = 0;
  for (const auto& s : r.manifest.shards) {
    if (s.first_row != next) throw Error("parts do not join up at " + s.file, where.back(), "re-run the parts");
    next += s.rows;
  }
  if (static_cast<int64_t>(r.manifest.shards.size()) != total_shards || next != r.manifest.total_rows) {
    throw Error("parts hold " + std::to_string(r.manifest.shards.size()) + " shards, the plan has " +
                    std::to_string(total_shards),
                where.back(), "re-run the parts");
  }
  for (const auto& in : r.manifest.inputs) r.duplicates += in.duplicates;
  r.parts = static_cast<int>(texts.size());
  return r;
}

void remove_shards_from(const std::string& dir, int64_t first) {
  for (int64_t i = first;; ++i) {
    const fs::path extra = fs::path(dir) / shard_name(i);
    if (!fs::exists(extra)) break;
    fs::remove(extra);
  }
}

}  // namespace

std::string part_file_name(int part, int parts) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "prep-part-%05d-of-%05d.json", part, parts);
  return buf;
}

PrepResult run_prep(const PrepOptions& o, const PrepPeers& peers) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.inputs.empty()) throw Error("no input files", "--input", "give one or more text, .gz, .zst or .csv files");
  if (o.output_dir.empty()) throw Error("no output directory", "--output", "name a directory for the shards");
  if (o.shard_rows < 1) throw Error("shard rows must be positive", "--shard-rows", "");
  if (o.max_len < 2 || o.max_len > 65535)
    throw Error("max_len must be in [2, 65535]", "--max-len", "the recipe uses 32");
  if (o.part_mode && (o.parts < 1 || o.part < 0 || o.part >= o.parts)) {
    throw Error("part " + std::to_string(o.part) + "/" + std::to_string(o.parts) + " is out of range", "--part",
                "give --part i/K with 0 <= i < K (e.g. --part $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)");
  }
  if (o.part_mode && peers.world > 1) {
    throw Error("--part is for independent jobs, not for mpirun", "--part", "use either mpirun -np K or --part i/K");
  }
  const auto tok = WordPieceTokenizer::from_vocab_file(o.vocab_path, o.lowercase);

  // Open every input first: a wrong CSV header or an unreadable file fails before anything is written.
  std::vector<PrepInput> inputs;
  std::vector<std::string> columns;
  for (const auto& path : expand_inputs(o.inputs)) {
    RecordReader reader(path);
    if (!inputs.empty() && reader.columns() != columns) {
      throw Error("inputs mix formats (columns differ from " + inputs.front().path + ")", path,
                  "prepare unsupervised text and supervised CSV into separate directories");
    }
    columns = reader.columns();
    std::error_code ec;
    inputs.push_back(PrepInput{path, compression_of(path), input_format_of(path),
                               static_cast<int64_t>(fs::file_size(path, ec))});
  }

  PrepResult result;
  result.part_mode = o.part_mode;
  result.part = o.part_mode ? o.part : peers.rank;
  result.parts = o.part_mode ? o.parts : peers.world;
  Manifest& m = result.manifest;
  m.vocab_sha256 = tok.vocab_sha256();
  m.vocab_size = tok.vocab_size();
  m.max_len = o.max_len;
  m.lowercase = o.lowercase;
  m.columns = columns;
  m.id_dtype = tok.vocab_size() <= 65536 ? "uint16" : "int32";
  m.fingerprint = fingerprint_of(o, tok, columns, inputs);
  m.dedup = o.dedup;
  const fs::path manifest_path = fs::path(o.output_dir) / kManifestFileName;
  const fs::path part_path = fs::path(o.output_dir) / part_file_name(o.part, o.parts);

  // The output directory: checked (and cleaned of temp files) by rank 0 or by each part.
  const auto state = gather_or_throw(peers, [&]() -> std::string {
    if (peers.rank != 0) return "";
    fs::create_directories(o.output_dir);
    if (fs::exists(manifest_path)) {
      const Manifest old = Manifest::load(o.output_dir);
      if (old.fingerprint == m.fingerprint) return "complete";
      if (!o.overwrite) {
        throw Error("output directory already holds a prepared corpus made from other inputs or settings",
                    manifest_path.string(), "use a new --output directory, or --overwrite to replace it");
      }
      fs::remove(manifest_path);  // from here on the directory is visibly unfinished
    }
    if (o.part_mode && fs::exists(part_path)) {
      std::ifstream in(part_path);
      std::stringstream text;
      text << in.rdbuf();
      try {
        if (json::parse(text.str()).at("manifest").at("fingerprint") == m.fingerprint) return "part-complete";
      } catch (const json::exception&) {
      }
      fs::remove(part_path);
    }
    for (const auto& e : fs::directory_iterator(o.output_dir)) {
      const std::string name = e.path().filename().string();
      if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
        // Leftovers of an interrupted write: never complete. Parts running at the same time
        // each remove only the temp files of their own shards (when they write them).
        if (!o.part_mode) fs::remove(e.path());
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
    return "";
  });
  if (state[0] == "complete") {
    LOG_INFO("prep: " << manifest_path.string() << " already matches these inputs and settings; nothing to do");
    const auto part = result.part, parts = result.parts;
    const bool pm = result.part_mode;
    result = PrepResult{};
    result.manifest = Manifest::load(o.output_dir);
    result.already_complete = true;
    result.part = part, result.parts = parts, result.part_mode = pm;
    for (const auto& in : result.manifest.inputs) result.duplicates += in.duplicates;
    return result;
  }
  if (state[0] == "part-complete") {
    LOG_INFO("prep: " << part_path.string() << " already matches these inputs and settings; nothing to do");
    result.already_complete = true;
    return result;
  }

  PlanOptions plan_options;
  plan_options.block_bytes = o.block_bytes;
  plan_options.shard_rows = o.shard_rows;
  plan_options.dedup = o.dedup;
  plan_options.lowercase = o.lowercase;
  plan_options.threads = std::max(1, o.threads);
  const PrepPlan plan = make_prep_plan(inputs, plan_options, peers);
  if (plan.total_rows == 0) {
    throw Error("the inputs contain no non-empty lines", inputs.front().path, "check the input files");
  }
  for (const auto& in : inputs) m.inputs.push_back(InputSummary{in.path});
  for (const auto& b : plan.blocks) {
    InputSummary& s = m.inputs[static_cast<size_t>(b.scan.input)];
    s.lines += b.scan.lines, s.empty += b.scan.empty, s.rows += b.rows;
    s.duplicates += static_cast<int64_t>(b.dup_end - b.dup_begin);
  }
  m.total_rows = plan.total_rows;
  for (const auto& in : m.inputs) result.duplicates += in.duplicates;

  const auto [first, end] = plan.shards_of_part(result.part, result.parts);
  std::string mine;
  const auto parts = gather_or_throw(peers, [&] {
    const PartWork w = write_part(o, plan, m, tok, first, end);
    Manifest part_manifest = m;
    part_manifest.shards = w.entries;
    for (auto& in : part_manifest.inputs) in.truncated = in.invalid_utf8 = 0;
    for (const auto& [i, c] : w.truncated) part_manifest.inputs[static_cast<size_t>(i)].truncated = c;
    for (const auto& [i, c] : w.invalid) part_manifest.inputs[static_cast<size_t>(i)].invalid_utf8 = c;
    return part_json(part_manifest, result.part, result.parts, plan.shards(), w);
  });

  if (o.part_mode) {
    write_file_atomically(part_path.string(), parts[0]);
    const json j = json::parse(parts[0]);
    result.manifest = Manifest::parse(j.at("manifest").dump(), part_path.string());
    result.shards_written = j.at("shards_written").get<int64_t>();
    result.shards_reused = j.at("shards_reused").get<int64_t>();
    result.rows_tokenized = j.at("rows_tokenized").get<int64_t>();
  } else {
    std::vector<std::string> where;
    for (int r = 0; r < peers.world; ++r) where.push_back("rank " + std::to_string(r));
    PrepResult merged = merge_parts(parts, where);
    merged.part = result.part, merged.parts = result.parts;
    result = merged;
    if (peers.rank == 0) {
      remove_shards_from(o.output_dir, plan.shards());  // from an older, larger run with other settings
      result.manifest.save(o.output_dir);
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

PrepResult merge_prep_parts(const std::string& output_dir) {
  const auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  if (!fs::is_directory(output_dir, ec)) {
    throw Error("no such prep output directory", output_dir, "give the --output directory the parts wrote into");
  }
  // The part count from the names; every part 0..K-1 must be there.
  int parts = -1;
  for (const auto& e : fs::directory_iterator(output_dir)) {
    int p = 0, k = 0;
    if (std::sscanf(e.path().filename().string().c_str(), "prep-part-%d-of-%d.json", &p, &k) == 2) {
      if (parts >= 0 && k != parts) {
        throw Error("part files of different part counts (" + std::to_string(parts) + " and " + std::to_string(k) + ")",
                    e.path().string(), "delete the part files of the older run and re-run its parts");
      }
      parts = k;
    }
  }
  const fs::path manifest_path = fs::path(output_dir) / kManifestFileName;
  if (parts < 0) {
    if (fs::exists(manifest_path)) {
      PrepResult done;
      done.manifest = Manifest::load(output_dir);
      done.already_complete = true;
      return done;
    }
    throw Error("no part files to merge (prep-part-*-of-*.json)", output_dir,
                "run `simcsepp prep ... --part i/K` for every i in 0..K-1 first, with the same --output");
  }
  std::vector<std::string> texts, where, missing;
  for (int p = 0; p < parts; ++p) {
    const fs::path path = fs::path(output_dir) / part_file_name(p, parts);
    std::ifstream in(path);
    if (!in) {
      missing.push_back(std::to_string(p));
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    texts.push_back(text.str());
    where.push_back(path.string());
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& p : missing) list += (list.empty() ? "" : ", ") + p;
    throw Error("parts " + list + " of " + std::to_string(parts) + " have not finished (no " +
                    part_file_name(std::stoi(missing.front()), parts) + ")",
                output_dir, "run (or re-run) `simcsepp prep ... --part " + missing.front() + "/" + std::to_string(parts) +
                                "` with the same inputs, options and --output, then merge again");
  }
  PrepResult r = merge_parts(texts, where);
  for (const auto& s : r.manifest.shards) {
    if (!fs::exists(fs::path(output_dir) / s.file)) {
      throw Error("a part lists a shard that is missing", (fs::path(output_dir) / s.file).string(),
                  "re-run the part that wrote it");
    }
  }
  remove_shards_from(output_dir, static_cast<int64_t>(r.manifest.shards.size()));
  r.manifest.save(output_dir);
  for (const auto& w : where) fs::remove(w);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::string format_prep_summary(const PrepResult& r) {
  const Manifest& m = r.manifest;
  std::ostringstream s;
  int64_t lines = 0, empty = 0, truncated = 0, invalid = 0;
  for (const auto& in : m.inputs) {
    s << "  " << in.path << ": " << in.lines << " lines, " << in.rows << " rows, " << in.empty << " empty skipped, ";
    if (m.dedup) s << in.duplicates << " duplicates skipped, ";
    s << in.truncated << " truncated, " << in.invalid_utf8 << " invalid UTF-8 replaced\n";
    lines += in.lines, empty += in.empty, truncated += in.truncated, invalid += in.invalid_utf8;
  }
  if (r.part_mode) {
    s << "  part " << r.part << "/" << r.parts << ": " << m.shards.size() << " shards (" << r.shards_written
      << " written, " << r.shards_reused << " reused), " << r.rows_tokenized << " rows tokenized";
    if (r.already_complete) s << " (already complete: nothing done)";
    s << "; when every part is done: simcsepp prep --merge -o DIR";
    return s.str();
  }
  s << "  total: " << lines << " lines, " << m.total_rows << " rows in " << m.shards.size() << " shards ("
    << r.shards_written << " written, " << r.shards_reused << " reused), " << empty << " empty skipped, ";
  if (m.dedup) s << r.duplicates << " duplicates skipped, ";
  s << truncated << " truncated to max_len " << m.max_len << ", " << invalid << " invalid UTF-8 replaced";
  if (r.already_complete) s << " (already complete: nothing done)";
  if (r.seconds > 0) s << ", " << std::fixed << std::setprecision(1) << r.seconds << " s";
  s << "\n  counters: shards_written=" << r.shards_written << " shards_reused=" << r.shards_reused
    << " rows_tokenized=" << r.rows_tokenized << " duplicates=" << r.duplicates << " processes=" << r.parts;
  return s.str();
}

}  // namespace simcsepp::data
