// reader_tail_and_errors_mpi.cpp - CorpusReader under mpirun (-np 2, 3) in the two situations the
// training runs do not exercise (tests/data/mpi/reader_mpi_main.cpp covers drop_tail on):
//   drop_tail off   1,000 rows do not divide into global batches of 12 x world: every rank still
//                   gets full batches, the epoch has ceil(rows / G) steps, every row appears, and
//                   the padding is exactly the epoch's first positions again (global_sampler.h);
//   prefetch error  one shard's bytes differ from the manifest: on every rank the background
//                   thread's error reaches next() as a simcsepp::Error naming that shard, instead
//                   of a hang, a crash or a silently short epoch.
// Exits non-zero on any failure (ctest reads the exit status of mpirun).
#include <mpi.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "cluster/base/error.h"
#include "data/corpus_reader.h"
#include "tests/data/corpus_fixture.h"

using namespace simcsepp::data;
namespace fs = std::filesystem;

namespace {

int failures = 0;

void check(bool ok, const std::string& what, int rank) {
  if (!ok) {
    std::fprintf(stderr, "FAIL (rank %d): %s\n", rank, what.c_str());
    ++failures;
  }
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  constexpr int64_t kLocal = 12;
  try {
    int pid = static_cast<int>(::getpid());
    MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
    const auto dir = fs::temp_directory_path() / ("simcsepp_reader_tail_" + std::to_string(world) + "_" + std::to_string(pid));
    if (rank == 0) {
      fs::remove_all(dir);
      fs::create_directories(dir);
      testing::make_text_corpus(dir, 1000, 64);
    }
    MPI_Barrier(MPI_COMM_WORLD);

    // --- drop_tail off ---------------------------------------------------------------------
    ReaderOptions o;
    o.corpus_dir = (dir / "corpus").string();
    o.rank = rank, o.world_size = world, o.local_batch = kLocal, o.window_shards = 2, o.drop_tail = false;
    CorpusReader reader(o);
    const int64_t total = reader.manifest().total_rows;
    const int64_t g = kLocal * world;
    const int64_t steps = reader.steps_per_epoch();
    check(steps == (total + g - 1) / g, "steps_per_epoch = ceil(rows / global batch)", rank);
    check(total % g != 0, "the corpus leaves a partial global batch (else the test proves nothing)", rank);
    for (int epoch = 0; epoch < 2; ++epoch) {
      std::vector<int64_t> mine;
      for (int64_t s = 0; s < steps; ++s) {
        const auto b = reader.next();
        check(static_cast<int64_t>(b.global_rows.size()) == kLocal, "a full local batch at every step", rank);
        mine.insert(mine.end(), b.global_rows.begin(), b.global_rows.end());
      }
      std::vector<int64_t> all(static_cast<size_t>(steps * g));
      MPI_Gather(mine.data(), static_cast<int>(mine.size()), MPI_INT64_T, all.data(), static_cast<int>(mine.size()),
                 MPI_INT64_T, 0, MPI_COMM_WORLD);
      if (rank == 0) {
        // Epoch order: step-major, then rank, then position in the local batch.
        std::vector<int64_t> order;
        for (int64_t s = 0; s < steps; ++s)
          for (int r = 0; r < world; ++r)
            for (int64_t i = 0; i < kLocal; ++i) order.push_back(all[static_cast<size_t>((r * steps + s) * kLocal + i)]);
        const std::set<int64_t> unique(order.begin(), order.end());
        check(static_cast<int64_t>(unique.size()) == total && *unique.begin() == 0 && *unique.rbegin() == total - 1,
              "every row appears in the epoch (" + std::to_string(unique.size()) + " of " + std::to_string(total) + ")",
              rank);
        const std::set<int64_t> head(order.begin(), order.begin() + total);
        check(static_cast<int64_t>(head.size()) == total, "the first rows-many positions are each row once", rank);
        for (int64_t i = total; i < static_cast<int64_t>(order.size()); ++i) {
          if (order[static_cast<size_t>(i)] != order[static_cast<size_t>(i - total)]) {
            check(false, "the padding wraps to the epoch's first positions", rank);
            break;
          }
        }
      }
    }
    // Resume inside the padded last batch gives the same rows.
    CorpusReader full(o), before(o), resumed(o);
    std::vector<std::vector<int64_t>> expected;
    for (int64_t s = 0; s < steps + 2; ++s) expected.push_back(full.next().global_rows);
    for (int64_t s = 0; s < steps - 1; ++s) before.next();
    resumed.seek(before.position());
    for (int64_t s = steps - 1; s < steps + 2; ++s)
      check(resumed.next().global_rows == expected[static_cast<size_t>(s)], "resume across the padded batch", rank);

    // --- an error in the prefetch thread -----------------------------------------------------
    const auto bad = dir / "corrupt";
    std::string shard_file;
    if (rank == 0) {
      fs::copy(dir / "corpus", bad, fs::copy_options::recursive);
      shard_file = reader.manifest().shards.at(5).file;
      std::fstream f(bad / shard_file, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(-64, std::ios::end);
      const char junk[4] = {'\x5a', '\x5a', '\x5a', '\x5a'};
      f.write(junk, 4);  // the bytes change, the HDF5 structure may or may not: the checksum tells
    }
    MPI_Barrier(MPI_COMM_WORLD);
    shard_file = reader.manifest().shards.at(5).file;
    ReaderOptions c = o;
    c.corpus_dir = bad.string();
    c.drop_tail = true;
    c.prefetch_batches = 4;
    std::string error;
    try {
      CorpusReader corrupt(c);
      for (int64_t s = 0; s < corrupt.steps_per_epoch(); ++s) corrupt.next();
    } catch (const simcsepp::Error& e) {
      error = std::string(e.what()) + " [" + e.where() + "]";
    }
    check(!error.empty(), "a corrupt shard makes next() throw within the epoch", rank);
    check(error.find("checksum") != std::string::npos && error.find(shard_file) != std::string::npos,
          "the error names the checksum and " + shard_file + ": " + error, rank);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) fs::remove_all(dir);
  } catch (const simcsepp::Error& e) {
    std::fprintf(stderr, "FAIL (rank %d): %s [%s] HINT: %s\n", rank, e.what(), e.where().c_str(), e.hint().c_str());
    ++failures;
  }
  int total_failures = 0;
  MPI_Allreduce(&failures, &total_failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) std::printf("%s: %d ranks, %d failures\n", total_failures ? "FAIL" : "PASS", world, total_failures);
  MPI_Finalize();
  return total_failures ? 1 : 0;
}
