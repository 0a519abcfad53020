// prep_plan.cpp - blocks, the parallel scan, distributed dedup and the row/shard plan (see prep_plan.h).
#include "data/prep_plan.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "base/error.h"

namespace simcsepp::data {

namespace {

bool is_blank(const std::string& s) {
  for (unsigned char c : s) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\v' && c != '\f') return false;
  }
  return true;
}

// ---- little binary encoding for the collectives ----------------------------------------------
void put(std::string& out, int64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void put(std::string& out, const std::string& s) {
  put(out, static_cast<int64_t>(s.size()));
  out += s;
}
struct Cursor {
  const std::string& s;
  size_t pos = 0;
  int64_t i64() {
    int64_t v;
    std::memcpy(&v, s.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  std::string str() {
    const auto n = static_cast<size_t>(i64());
    std::string v = s.substr(pos, n);
    pos += n;
    return v;
  }
  bool done() const { return pos >= s.size(); }
};

// The first line start at or after `p` in a plain file of `size` bytes.
int64_t line_start_at_or_after(const std::string& path, int64_t p, int64_t size) {
  if (p <= 0) return 0;
  if (p >= size) return size;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open input file", path, "check the path and permissions");
  char buf[1 << 16];
  int64_t pos = p - 1;  // the byte before p: a '\n' there makes p a line start
  int64_t result = size;
  for (bool found = false; !found && pos < size;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, pos);
    if (n <= 0) break;
    if (const void* nl = std::memchr(buf, '\n', static_cast<size_t>(n))) {
      result = pos + (static_cast<const char*>(nl) - buf) + 1;
      found = true;
    }
    pos += n;
  }
  ::close(fd);
  return result;
}

int64_t newlines_before(const std::string& path, int64_t end) {
  const auto stream = open_byte_stream(path, 0, end);
  char buf[1 << 16];
  int64_t n = 0;
  for (size_t got; (got = stream->read(buf, sizeof buf)) > 0;) n += std::count(buf, buf + got, '\n');
  return n;
}

struct BlockTask {
  int32_t input;
  int64_t nominal_begin, nominal_end;  // plain blocks; whole-file blocks: 0, -1
};

BlockScan scan_records(const PrepInput& in, int32_t index, int64_t begin, int64_t end, int64_t lines_before,
                       bool dedup, bool lowercase) {
  BlockScan s;
  s.input = index;
  s.begin = begin;
  RecordReader reader(in.path, begin, end, lines_before);
  SourceRecord rec;
  while (reader.next(rec)) {
    if (record_is_empty(rec.fields)) {
      ++s.empty;
      continue;
    }
    ++s.records;
    if (dedup) s.keys.push_back(dedup_key(rec.fields, lowercase));
  }
  s.lines = reader.lines_read() - (in.format == InputFormat::kCsv ? 1 : 0);
  s.end = reader.offset();
  if (end >= 0) s.end = std::max(s.end, end);  // trailing bytes count even if not a full line
  return s;
}

BlockScan scan_block(const PrepInput& in, const BlockTask& t, bool dedup, bool lowercase) {
  if (!in.splittable()) return scan_records(in, t.input, 0, -1, 0, dedup, lowercase);
  const int64_t begin = line_start_at_or_after(in.path, t.nominal_begin, in.size);
  const int64_t end = line_start_at_or_after(in.path, t.nominal_end, in.size);
  if (begin >= end) {
    BlockScan empty;
    empty.input = t.input, empty.begin = begin, empty.end = begin;
    return empty;
  }
  try {
    return scan_records(in, t.input, begin, end, 0, dedup, lowercase);
  } catch (const Error&) {
    if (begin == 0) throw;
    // Scan again knowing the lines before the block, so the error names the true line number.
    scan_records(in, t.input, begin, end, newlines_before(in.path, begin), dedup, lowercase);
    throw;
  }
}

// Runs fn(i) for i in [0, n) on `threads` threads; the first Error is rethrown.
template <typename Fn>
void parallel_for(size_t n, int threads, Fn fn) {
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = n;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int>(threads, static_cast<int>(n)); ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

bool record_is_empty(const std::vector<std::string>& fields) {
  for (const auto& f : fields)
    if (is_blank(f)) return true;
  return false;
}

std::pair<int64_t, int64_t> PrepPlan::shards_of_part(int part, int parts) const {
  const int64_t s = shards();
  return {s * part / parts, s * (part + 1) / parts};
}

std::vector<std::string> gather_or_throw(const PrepPeers& peers, const std::function<std::string()>& work) {
  std::string mine;
  try {
    mine = "O" + work();
  } catch (const Error& e) {
    mine = "E";
    put(mine, e.message()), put(mine, e.where()), put(mine, e.hint());
  }
  std::vector<std::string> all = peers.all_gather(mine);
  for (size_t r = 0; r < all.size(); ++r) {
    if (!all[r].empty() && all[r][0] == 'E') {
      Cursor c{all[r], 1};
      const std::string what = c.str(), where = c.str(), hint = c.str();
      throw Error(static_cast<int>(r) == peers.rank || peers.world == 1 ? what : what + " (on rank " + std::to_string(r) + ")",
                  where, hint);
    }
  }
  for (auto& a : all) a.erase(0, 1);
  return all;
}

PrepPlan make_prep_plan(const std::vector<PrepInput>& inputs, const PlanOptions& o, const PrepPeers& peers) {
  if (o.block_bytes < 1) throw Error("block bytes must be positive", "--block-bytes", "the default is 67108864");
  PrepPlan plan;
  plan.inputs = inputs;
  plan.shard_rows = o.shard_rows;

  // 1. Blocks, the same list everywhere; block i is scanned by process i % world.
  std::vector<BlockTask> tasks;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto index = static_cast<int32_t>(i);
    if (!inputs[i].splittable()) {
      tasks.push_back({index, 0, -1});
      continue;
    }
    for (int64_t b = 0; b < inputs[i].size; b += o.block_bytes) {
      tasks.push_back({index, b, std::min(inputs[i].size, b + o.block_bytes)});
    }
  }
  std::vector<size_t> mine;
  for (size_t b = static_cast<size_t>(peers.rank); b < tasks.size(); b += static_cast<size_t>(peers.world)) mine.push_back(b);
  std::vector<BlockScan> scans(tasks.size());
  const auto counts = gather_or_throw(peers, [&] {
    parallel_for(mine.size(), o.threads, [&](size_t k) {
      const BlockTask& t = tasks[mine[k]];
      scans[mine[k]] = scan_block(inputs[static_cast<size_t>(t.input)], t, o.dedup, o.lowercase);
    });
    std::string out;
    for (size_t b : mine) {
      const BlockScan& s = scans[b];
      put(out, static_cast<int64_t>(b)), put(out, s.begin), put(out, s.end), put(out, s.lines), put(out, s.empty),
          put(out, s.records);
    }
    return out;
  });
  for (const auto& payload : counts) {
    for (Cursor c{payload}; !c.done();) {
      const auto b = static_cast<size_t>(c.i64());
      BlockScan& s = scans[b];
      s.input = tasks[b].input;
      s.begin = c.i64(), s.end = c.i64(), s.lines = c.i64(), s.empty = c.i64(), s.records = c.i64();
    }
  }
  plan.blocks.resize(tasks.size());
  int64_t ordinal = 0;
  for (size_t b = 0; b < tasks.size(); ++b) {
    PlannedBlock& p = plan.blocks[b];
    p.scan = std::move(scans[b]);
    p.lines_before = b > 0 && plan.blocks[b - 1].scan.input == p.scan.input
                         ? plan.blocks[b - 1].lines_before + plan.blocks[b - 1].scan.lines
                         : 0;
    p.first_ordinal = ordinal;
    ordinal += p.scan.records;
  }

  // 2. Dedup: each key to its owner, owners mark later occurrences, everyone gets all marks.
  if (o.dedup) {
    std::vector<std::string> to(static_cast<size_t>(peers.world));
    for (size_t b : mine) {
      const PlannedBlock& p = plan.blocks[b];
      for (size_t i = 0; i < p.scan.keys.size(); ++i) {
        const DedupKey& k = p.scan.keys[i];
        std::string& dest = to[k.lo % static_cast<uint64_t>(peers.world)];
        put(dest, static_cast<int64_t>(k.hi)), put(dest, static_cast<int64_t>(k.lo));
        put(dest, p.first_ordinal + static_cast<int64_t>(i));
      }
      plan.blocks[b].scan.keys = {};
    }
    const auto received = peers.all_to_all(std::move(to));
    std::vector<KeyedRecord> owned;
    for (const auto& payload : received) {
      for (Cursor c{payload}; !c.done();) {
        KeyedRecord r;
        r.key.hi = static_cast<uint64_t>(c.i64()), r.key.lo = static_cast<uint64_t>(c.i64());
        r.ordinal = c.i64();
        owned.push_back(r);
      }
    }
    const auto later = later_occurrences(owned);
    owned = {};
    std::string out;
    for (int64_t d : later) put(out, d);
    for (const auto& payload : peers.all_gather(out)) {
      for (Cursor c{payload}; !c.done();) plan.duplicates.push_back(c.i64());
    }
    std::sort(plan.duplicates.begin(), plan.duplicates.end());
  }

  // 3. Rows.
  int64_t row = 0;
  for (auto& p : plan.blocks) {
    const auto lo = std::lower_bound(plan.duplicates.begin(), plan.duplicates.end(), p.first_ordinal);
    const auto hi = std::lower_bound(lo, plan.duplicates.end(), p.first_ordinal + p.scan.records);
    p.dup_begin = static_cast<size_t>(lo - plan.duplicates.begin());
    p.dup_end = static_cast<size_t>(hi - plan.duplicates.begin());
    p.rows = p.scan.records - static_cast<int64_t>(p.dup_end - p.dup_begin);
    p.first_row = row;
    row += p.rows;
  }
  plan.total_rows = row;
  return plan;
}

}  // namespace simcsepp::data
