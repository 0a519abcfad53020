// reader_tail_and_errors_mpi.cpp - CorpusReader under mpirun (-np 2, 3) in the two situations the
// training runs do not exercise (tests/data/mpi/reader_mpi_main.cpp covers drop_tail on):
//   drop_tail off   1,000 rows do not divide into global batches of 12 x world: every rank still
//                   gets full batches, the epoch has ceil(rows / G) steps, every row appears, and
//                   each rank's padding is exactly the first positions of its own stream again
//                   (global_sampler.h; before issue 15 it was the global order's first positions);
//   prefetch error  one shard's bytes differ from the manifest: on the rank that reads it (each
//                   shard is read by one rank per epoch) the background thread's error reaches
//                   next() as a simcsepp::Error naming that shard, instead of a hang, a crash or a
//                   silently short epoch; the other ranks read their epoch; the same for a shard
//                   split between ranks with hash_split_shards (the rank holding its first row).
// Exits non-zero on any failure (ctest reads the exit status of mpirun).
#include <mpi.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "base/error.h"
#include "data/corpus_reader.h"
#include "tests/data/corpus_fixture.h"
#include "tests/data/mpi/mpi_checks.h"

using namespace simcsepp::data;
namespace fs = std::filesystem;

using simcsepp::data::testing::check;

namespace {

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  constexpr int64_t kLocal = 12;
  try {
    const auto dir = testing::shared_temp_dir("simcsepp_reader_tail", world);
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
        const std::set<int64_t> unique(all.begin(), all.end());
        check(static_cast<int64_t>(unique.size()) == total && *unique.begin() == 0 && *unique.rbegin() == total - 1,
              "every row appears in the epoch (" + std::to_string(unique.size()) + " of " + std::to_string(total) + ")",
              rank);
        std::set<int64_t> heads;  // each rank's stream: floor or ceil of rows / world distinct rows
        for (int r = 0; r < world; ++r) {
          const int64_t stream = total / world + (r < total % world ? 1 : 0);
          const auto* mine_r = all.data() + static_cast<size_t>(r * steps * kLocal);
          heads.insert(mine_r, mine_r + stream);
          for (int64_t i = stream; i < steps * kLocal; ++i) {
            if (mine_r[i] != mine_r[i - stream]) {
              check(false, "rank " + std::to_string(r) + "'s padding wraps to its stream's first positions", rank);
              break;
            }
          }
        }
        check(static_cast<int64_t>(heads.size()) == total, "the ranks' streams are each row once", rank);
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
    // A shard read whole by one rank in epoch 0 (default checks), then one split between ranks
    // (hash_split_shards): the sampler says which rank must report it.
    std::vector<int64_t> shard_rows;
    for (const auto& s : reader.manifest().shards) shard_rows.push_back(s.rows);
    GlobalSampler sampler(SamplerConfig{shard_rows, o.seed, o.window_shards, world, kLocal, true});
    int32_t whole_shard = -1, split_shard = -1;
    int whole_reader = -1, split_owner = -1;
    std::map<int32_t, int> readers;
    for (int r = 0; r < world; ++r) {
      for (const auto& p : sampler.parts(o.seed, 0, r)) {
        for (const auto& range : p.ranges) {
          ++readers[range.shard];
          const bool whole = range.begin == 0 && range.end == shard_rows[static_cast<size_t>(range.shard)];
          if (whole && whole_shard < 0) whole_shard = range.shard, whole_reader = r;
        }
      }
    }
    for (int r = 0; r < world; ++r) {
      for (const auto& p : sampler.parts(o.seed, 0, r)) {
        for (const auto& range : p.ranges) {
          if (split_shard < 0 && readers[range.shard] > 1 && range.begin == 0)
            split_shard = range.shard, split_owner = r;
        }
      }
    }
    check(whole_shard >= 0 && split_shard >= 0, "the corpus has a shard read whole and one split between ranks", rank);
    for (const auto& [label, shard, reporter, hash_split] :
         {std::tuple{"whole", whole_shard, whole_reader, false}, std::tuple{"split", split_shard, split_owner, true}}) {
      if (shard < 0) continue;
      const auto bad = dir / (std::string("corrupt_") + label);
      const std::string shard_file = reader.manifest().shards.at(static_cast<size_t>(shard)).file;
      if (rank == 0) {
        fs::copy(dir / "corpus", bad, fs::copy_options::recursive);
        std::fstream f(bad / shard_file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(-64, std::ios::end);
        const char junk[4] = {'\x5a', '\x5a', '\x5a', '\x5a'};
        f.write(junk, 4);  // the bytes change, the HDF5 structure may or may not: the checksum tells
      }
      MPI_Barrier(MPI_COMM_WORLD);
      ReaderOptions c = o;
      c.corpus_dir = bad.string();
      c.drop_tail = true;
      c.prefetch_batches = 4;
      c.hash_split_shards = hash_split;
      std::string error;
      try {
        CorpusReader corrupt(c);
        for (int64_t s = 0; s < corrupt.steps_per_epoch(); ++s) corrupt.next();
      } catch (const simcsepp::Error& e) {
        error = std::string(e.what()) + " [" + e.where() + "]";
      }
      const std::string what = std::string(label) + " shard " + shard_file + ": ";
      if (rank == reporter) {
        check(!error.empty(), what + "its reader's next() throws within the epoch", rank);
        check(error.find("checksum") != std::string::npos && error.find(shard_file) != std::string::npos,
              what + "the error names the checksum and the file: " + error, rank);
      } else {
        check(error.empty() || error.find(shard_file) != std::string::npos,
              what + "another rank fails only on that shard: " + error, rank);
      }
      if (!hash_split) check(rank == reporter || error.empty(), what + "only its one reader fails: " + error, rank);
      MPI_Barrier(MPI_COMM_WORLD);
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
