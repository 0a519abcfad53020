// reader_mpi_main.cpp - multi-rank tests of CorpusReader under mpirun (-np 1, 2, 3).
//
// Rank 0 prepares a corpus of 1,000 rows in 16 shards; every rank then reads with a window of 2
// shards (smaller than the corpus) and the ranks' rows are gathered on rank 0, which checks:
//   coverage      the union of all ranks' rows over an epoch = all rows but the dropped tail,
//                 no row twice, equal shares per rank (every batch local_batch rows, every
//                 rank steps_per_epoch x local_batch rows);
//   determinism   a second reader on each rank yields the same rows;
//   resume        a reader seeked to the position saved after k steps yields the remaining
//                 batches of the uninterrupted run, across an epoch boundary.
// Exits non-zero on any failure (ctest reads the exit status of mpirun).
#include <mpi.h>

#include <cstdio>
#include <filesystem>
#include <set>

#include "base/error.h"
#include "data/corpus_reader.h"
#include "tests/data/corpus_fixture.h"
#include "tests/data/mpi/mpi_checks.h"

using namespace simcsepp::data;

using simcsepp::data::testing::check;

namespace {

// The rows of `steps` batches; one failure if any batch is not `local_batch` rows.
std::vector<int64_t> read_rows(CorpusReader& reader, int64_t steps, int64_t local_batch, int rank) {
  std::vector<int64_t> rows;
  bool sizes_ok = true;
  for (int64_t s = 0; s < steps; ++s) {
    const auto b = reader.next();
    sizes_ok = sizes_ok && static_cast<int64_t>(b.global_rows.size()) == local_batch;
    rows.insert(rows.end(), b.global_rows.begin(), b.global_rows.end());
  }
  check(sizes_ok, "a batch is not local_batch rows", rank);
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  try {
    // One directory for all ranks: rank 0's pid, broadcast.
    const auto dir = testing::shared_temp_dir("simcsepp_reader_mpi", world);
    if (rank == 0) {
      std::filesystem::remove_all(dir);
      std::filesystem::create_directories(dir);
      testing::make_text_corpus(dir, 1000, 64);
    }
    MPI_Barrier(MPI_COMM_WORLD);

    ReaderOptions o;
    o.corpus_dir = (dir / "corpus").string();
    o.rank = rank, o.world_size = world, o.local_batch = 12, o.window_shards = 2;
    CorpusReader reader(o);
    const int64_t steps = reader.steps_per_epoch();
    const int64_t total = reader.manifest().total_rows;
    check(steps == total / (12 * world), "steps_per_epoch", rank);

    // Coverage over two epochs.
    for (int epoch = 0; epoch < 2; ++epoch) {
      const auto mine = read_rows(reader, steps, 12, rank);
      // Equal shares: every rank read exactly steps x 12 rows (checked on every rank, so all
      // agree whether the gather below, which needs equal counts, can run).
      const int count = static_cast<int>(mine.size());
      std::vector<int> counts(static_cast<size_t>(world));
      MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
      bool equal = true;
      for (int c : counts) equal = equal && c == steps * 12;
      check(equal, "ranks read unequal shares of the epoch", rank);
      if (!equal) break;
      std::vector<int64_t> all(static_cast<size_t>(steps * 12 * world));
      MPI_Gather(mine.data(), count, MPI_INT64_T, all.data(), count, MPI_INT64_T, 0, MPI_COMM_WORLD);
      if (rank == 0) {
        const std::set<int64_t> unique(all.begin(), all.end());
        check(unique.size() == all.size(), "a row appeared twice in one epoch", rank);
        check(static_cast<int64_t>(unique.size()) > total - 12 * world, "more than the tail was dropped", rank);
        check(*unique.rbegin() < total && *unique.begin() >= 0, "row id out of range", rank);
      }
    }

    // Determinism: a fresh reader repeats epoch 0 exactly.
    CorpusReader again(o);
    CorpusReader fresh(o);
    check(read_rows(again, steps, 12, rank) == read_rows(fresh, steps, 12, rank), "two readers disagree", rank);

    // Resume at several points, including across the epoch boundary.
    CorpusReader full(o);
    std::vector<std::vector<int64_t>> expected;
    for (int64_t s = 0; s < steps + 5; ++s) expected.push_back(full.next().global_rows);
    for (int64_t stop : {int64_t{1}, steps / 2, steps - 1, steps + 2}) {
      CorpusReader before(o);
      for (int64_t s = 0; s < stop; ++s) before.next();
      CorpusReader resumed(o);
      resumed.seek(before.position());
      for (int64_t s = stop; s < steps + 5; ++s) {
        if (resumed.next().global_rows != expected[static_cast<size_t>(s)]) {
          check(false, "resumed reader diverged", rank);
          break;
        }
      }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) std::filesystem::remove_all(dir);
  } catch (const simcsepp::Error& e) {
    std::fprintf(stderr, "FAIL (rank %d): %s [%s] HINT: %s\n", rank, e.what(), e.where().c_str(), e.hint().c_str());
    ++testing::mpi_failures;
  }
  const int rc = testing::finish(rank, world);
  MPI_Finalize();
  return rc;
}
