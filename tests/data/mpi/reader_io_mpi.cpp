// reader_io_mpi.cpp - what the job reads from its shards, under mpirun (-np 1, 2, 3).
//
// Rank 0 prepares 30,000 rows in 16 shards of 1,920 (the last 1,200; ~125 KB each, so the few KB
// of HDF5 metadata a row-range read of a split shard costs stay a small share, as with real
// shards of MBs - with 12 KB shards they alone passed the 1.1 x bound); each rank reads one epoch with
// a window of 2 shards per rank and no prefetching (so the epoch's reads are exactly counted),
// and rank 0 checks, over all ranks:
//   coverage   every row exactly once in the epoch but the < G dropped, equal shares per rank;
//   bytes      the job's bytes read (the reader's own counter, ReaderStats) are at most 1.1 x the
//              corpus's shard files; cross-checks: at least the files of the shards some rank
//              read whole (the sampler says which), and equal, within the meter's own /proc
//              reads, to what the kernel counted for each whole process (/proc/self/io rchar);
//              no rank reads more than 1.1 x its share plus one shard;
//   hashing    no shard is hashed twice in the epoch by the job, every shard read whole is
//              hashed, and with hash_split_shards every shard exactly once;
//   resume     a reader seeked to the middle of the epoch yields the uninterrupted batches.
// Exits non-zero on any failure (ctest reads the exit status of mpirun).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "base/error.h"
#include "data/corpus_reader.h"
#include "tests/data/corpus_fixture.h"
#include "tests/data/mpi/mpi_checks.h"

using namespace simcsepp::data;
namespace fs = std::filesystem;

using simcsepp::data::testing::check;
using simcsepp::data::testing::gather;

namespace {

// rchar of the whole process: every byte any of its threads got from read()/pread().
int64_t process_rchar() {
  std::ifstream in("/proc/self/io");
  std::string key;
  int64_t value = -1;
  while (in >> key >> value) {
    if (key == "rchar:") return value;
  }
  return -1;
}

struct Epoch {
  std::vector<int64_t> rows;
  ReaderStats stats;
  std::vector<int32_t> hash_counts;  // per shard
  int64_t process_bytes = 0;         // the kernel's count for the process while next() ran
};

Epoch read_epoch(const ReaderOptions& o) {
  CorpusReader reader(o);  // reads manifest.json, no shard
  Epoch e;
  const int64_t before = process_rchar();
  for (int64_t s = 0; s < reader.steps_per_epoch(); ++s) {
    const auto b = reader.next();
    e.rows.insert(e.rows.end(), b.global_rows.begin(), b.global_rows.end());
  }
  e.process_bytes = process_rchar() - before;
  e.stats = reader.stats();
  e.hash_counts = reader.shard_hash_counts();
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  constexpr int64_t kLocal = 16;
  try {
    const auto dir = testing::shared_temp_dir("simcsepp_reader_io", world);
    if (rank == 0) {
      fs::remove_all(dir);
      fs::create_directories(dir);
      testing::make_text_corpus(dir, 30000, 1920);
    }
    MPI_Barrier(MPI_COMM_WORLD);

    ReaderOptions o;
    o.corpus_dir = (dir / "corpus").string();
    o.rank = rank, o.world_size = world, o.local_batch = kLocal, o.window_shards = 2, o.prefetch_batches = 0;
    const Manifest manifest = Manifest::load(o.corpus_dir);
    const int64_t total = manifest.total_rows;
    const auto n = static_cast<int32_t>(manifest.shards.size());
    check(n == 16 && manifest.shards.back().rows < manifest.shards.front().rows, "16 shards, the last shorter", rank);
    std::vector<int64_t> file_bytes, shard_rows;
    int64_t corpus_bytes = 0;
    for (const auto& s : manifest.shards) {
      file_bytes.push_back(static_cast<int64_t>(fs::file_size(fs::path(o.corpus_dir) / s.file)));
      shard_rows.push_back(s.rows);
      corpus_bytes += file_bytes.back();
    }
    // Which shards each rank reads whole in epoch 0, from the sampler (not from the reader).
    GlobalSampler sampler(SamplerConfig{shard_rows, o.seed, o.window_shards, world, kLocal, true});
    std::vector<int> readers_of(static_cast<size_t>(n), 0);
    std::set<int32_t> read_whole;
    for (int r = 0; r < world; ++r) {
      for (const auto& p : sampler.parts(o.seed, 0, r)) {
        for (const auto& range : p.ranges) {
          ++readers_of[static_cast<size_t>(range.shard)];
          if (range.begin == 0 && range.end == shard_rows[static_cast<size_t>(range.shard)])
            read_whole.insert(range.shard);
        }
      }
    }
    int64_t whole_bytes = 0;
    for (int32_t s : read_whole) whole_bytes += file_bytes[static_cast<size_t>(s)];
    int split = 0;
    for (int c : readers_of) split += c > 1 ? 1 : 0;
    if (rank == 0) {
      std::printf("world %d: %d shards, %lld bytes, %d split between ranks, %zu read whole\n", world, n,
                  static_cast<long long>(corpus_bytes), split, read_whole.size());
    }
    check(world == 1 || split > 0, "some shard is split between ranks (else the range reads go untested)", rank);

    // --- one epoch: coverage, bytes, hashing -----------------------------------------------
    const int64_t steps = sampler.steps_per_epoch();
    const Epoch e = read_epoch(o);
    check(static_cast<int64_t>(e.rows.size()) == steps * kLocal, "every rank read steps x local_batch rows", rank);
    const auto rows = gather(e.rows, MPI_INT64_T, world);
    const std::vector<int64_t> mine = {e.stats.bytes_read, e.stats.shards_opened, e.stats.shards_hashed,
                                       e.process_bytes};
    const auto io = gather(mine, MPI_INT64_T, world);
    const auto hashes = gather(e.hash_counts, MPI_INT32_T, world);

    auto o_all = o;
    o_all.hash_split_shards = true;
    const Epoch all_hashed = read_epoch(o_all);
    const auto hashes_all = gather(all_hashed.hash_counts, MPI_INT32_T, world);
    const auto io_all = gather(std::vector<int64_t>{all_hashed.stats.bytes_read}, MPI_INT64_T, world);

    if (rank == 0) {
      const std::set<int64_t> unique(rows.begin(), rows.end());
      check(unique.size() == rows.size(), "a row appeared twice in one epoch", rank);
      check(static_cast<int64_t>(unique.size()) > total - kLocal * world, "more than the tail was dropped", rank);
      check(*unique.begin() >= 0 && *unique.rbegin() < total, "row id out of range", rank);

      int64_t job_bytes = 0, job_opens = 0, job_process = 0, job_all = 0;
      for (int r = 0; r < world; ++r) {
        const int64_t bytes = io[static_cast<size_t>(r * 4)], opens = io[static_cast<size_t>(r * 4 + 1)];
        const int64_t process = io[static_cast<size_t>(r * 4 + 3)];
        job_bytes += bytes, job_opens += opens, job_process += process;
        job_all += io_all[static_cast<size_t>(r)];
        std::printf("  rank %d: %lld bytes read, %lld shards opened, %lld hashed; process rchar %lld\n", r,
                    static_cast<long long>(bytes), static_cast<long long>(opens),
                    static_cast<long long>(io[static_cast<size_t>(r * 4 + 2)]), static_cast<long long>(process));
        // The meter's own /proc/thread-self/io reads (two of < 256 bytes per open) are the
        // difference: the kernel saw nothing else read in the process during the epoch.
        check(bytes <= process && process <= bytes + 512 * opens + 4096,
              "rank " + std::to_string(r) + ": reader counted " + std::to_string(bytes) + " bytes, the process read " +
                  std::to_string(process),
              rank);
        const int64_t share = corpus_bytes / world + *std::max_element(file_bytes.begin(), file_bytes.end());
        check(bytes * 10 <= share * 11, "rank " + std::to_string(r) + " read more than its share", rank);
      }
      std::printf("  job: %lld bytes read = %.3f x the corpus (%lld), %lld opens; with hash_split_shards %.3f x\n",
                  static_cast<long long>(job_bytes), double(job_bytes) / double(corpus_bytes),
                  static_cast<long long>(corpus_bytes), static_cast<long long>(job_opens),
                  double(job_all) / double(corpus_bytes));
      check(job_bytes * 10 <= corpus_bytes * 11, "the job read more than 1.1 x the corpus", rank);
      check(job_bytes >= whole_bytes, "the job read less than the shards it read whole", rank);
      check(job_opens <= n + split * (world - 1), "more shard opens than shards and split ranges", rank);
      check(job_all >= job_bytes, "hashing split shards reads at least as much", rank);

      int hashed_whole = 0;
      for (int32_t s = 0; s < n; ++s) {
        int h = 0, h_all = 0;
        for (int r = 0; r < world; ++r) {
          h += hashes[static_cast<size_t>(r * n + s)];
          h_all += hashes_all[static_cast<size_t>(r * n + s)];
        }
        check(h <= 1, "shard " + std::to_string(s) + " hashed " + std::to_string(h) + " times in one epoch", rank);
        if (read_whole.count(s)) {
          check(h == 1, "shard " + std::to_string(s) + " was read whole but not hashed", rank);
          ++hashed_whole;
        }
        check(h_all == 1,
              "with hash_split_shards, shard " + std::to_string(s) + " hashed " + std::to_string(h_all) + " times",
              rank);
      }
      check(hashed_whole == static_cast<int>(read_whole.size()), "hashed shards", rank);
    }

    // --- resume in the middle of the epoch --------------------------------------------------
    CorpusReader full(o), before(o), resumed(o);
    std::vector<std::vector<int64_t>> expected;
    for (int64_t s = 0; s < steps; ++s) expected.push_back(full.next().global_rows);
    for (int64_t s = 0; s < steps / 2; ++s) before.next();
    resumed.seek(before.position());
    for (int64_t s = steps / 2; s < steps; ++s) {
      if (resumed.next().global_rows != expected[static_cast<size_t>(s)]) {
        check(false, "resumed reader diverged at step " + std::to_string(s), rank);
        break;
      }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) fs::remove_all(dir);
  } catch (const simcsepp::Error& e) {
    std::fprintf(stderr, "FAIL (rank %d): %s [%s] HINT: %s\n", rank, e.what(), e.where().c_str(), e.hint().c_str());
    ++testing::mpi_failures;
  }
  const int rc = testing::finish(rank, world);
  MPI_Finalize();
  return rc;
}
