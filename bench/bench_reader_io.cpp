// bench_reader_io.cpp - what one epoch of the streaming reader reads, per rank and for the job.
//
// Under mpirun -np W, every rank reads one epoch of a prepared corpus (no prefetching, so the
// counters hold exactly that epoch) and rank 0 prints one JSON line: the job's bytes read from
// shard files (ReaderStats: the kernel's count, HDF5 metadata included) against the corpus's
// file bytes, shard opens and SHA-256 checks, the same per rank, each rank's peak RSS and
// sentences/s at next(), and the shuffle quality: distinct shards per global batch and per
// local batch (mean and minimum over the epoch's steps).
// Usage: mpirun -np W bench_reader_io CORPUS_DIR [local_batch=64] [window_shards=8] [hash_split=0] [stat_steps=0]
// stat_steps > 0: the shuffle quality is taken over the epoch's first stat_steps steps only, so
// that the record of rows (4 bytes per row) does not add to the reader's peak RSS on a large corpus.
// Results: docs/data.md.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "data/corpus_reader.h"

using namespace simcsepp::data;

namespace {

int64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmHWM:") {
      int64_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (argc < 2) {
    if (rank == 0)
      std::fprintf(stderr, "usage: bench_reader_io CORPUS_DIR [local_batch] [window_shards] [hash_split] [stat_steps]\n");
    MPI_Finalize();
    return 2;
  }
  int rc = 0;
  try {
    ReaderOptions o;
    o.corpus_dir = argv[1];
    o.rank = rank, o.world_size = world;
    o.local_batch = argc > 2 ? std::stoll(argv[2]) : 64;
    o.window_shards = argc > 3 ? std::stoll(argv[3]) : 8;
    o.hash_split_shards = argc > 4 && std::string(argv[4]) == "1";
    const int64_t stat_steps_arg = argc > 5 ? std::stoll(argv[5]) : 0;
    o.prefetch_batches = 0;
    CorpusReader reader(o);
    const Manifest& m = reader.manifest();
    int64_t corpus_bytes = 0;
    std::vector<int64_t> shard_end;  // first row of the next shard, to map rows to shards
    for (const auto& s : m.shards) {
      corpus_bytes += static_cast<int64_t>(std::filesystem::file_size(std::filesystem::path(o.corpus_dir) / s.file));
      shard_end.push_back(s.first_row + s.rows);
    }
    const int64_t steps = reader.steps_per_epoch();
    const int64_t stat_steps = stat_steps_arg > 0 ? std::min(stat_steps_arg, steps) : steps;
    std::vector<int32_t> shards_of_rows;  // step-major, this rank's rows' shard indices
    shards_of_rows.reserve(static_cast<size_t>(stat_steps * o.local_batch));
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t s = 0; s < steps; ++s) {
      const TrainingBatch batch = reader.next();
      if (s >= stat_steps) continue;
      for (int64_t row : batch.global_rows) {
        const auto it = std::upper_bound(shard_end.begin(), shard_end.end(), row);
        shards_of_rows.push_back(static_cast<int32_t>(it - shard_end.begin()));
      }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const ReaderStats st = reader.stats();
    const std::vector<double> mine = {double(st.bytes_read), double(st.shards_opened), double(st.shards_hashed),
                                      double(peak_rss_bytes()), double(steps * o.local_batch) / seconds};
    std::vector<double> all(mine.size() * static_cast<size_t>(world));
    MPI_Gather(mine.data(), static_cast<int>(mine.size()), MPI_DOUBLE, all.data(), static_cast<int>(mine.size()),
               MPI_DOUBLE, 0, MPI_COMM_WORLD);
    std::vector<int32_t> rows(shards_of_rows.size() * static_cast<size_t>(world));
    MPI_Gather(shards_of_rows.data(), static_cast<int>(shards_of_rows.size()), MPI_INT32_T, rows.data(),
               static_cast<int>(shards_of_rows.size()), MPI_INT32_T, 0, MPI_COMM_WORLD);
    if (rank == 0) {
      double job_bytes = 0, job_opens = 0, job_hashed = 0, global_sum = 0, local_sum = 0;
      size_t global_min = SIZE_MAX, local_min = SIZE_MAX;
      for (int r = 0; r < world; ++r) {
        job_bytes += all[static_cast<size_t>(r) * mine.size()];
        job_opens += all[static_cast<size_t>(r) * mine.size() + 1];
        job_hashed += all[static_cast<size_t>(r) * mine.size() + 2];
      }
      const auto per_rank = static_cast<size_t>(stat_steps * o.local_batch);
      for (int64_t s = 0; s < stat_steps; ++s) {
        std::set<int32_t> global;
        for (int r = 0; r < world; ++r) {
          const auto* first = rows.data() + static_cast<size_t>(r) * per_rank + static_cast<size_t>(s * o.local_batch);
          const std::set<int32_t> local(first, first + o.local_batch);
          local_sum += double(local.size());
          local_min = std::min(local_min, local.size());
          global.insert(local.begin(), local.end());
        }
        global_sum += double(global.size());
        global_min = std::min(global_min, global.size());
      }
      std::printf(
          "{\"world\": %d, \"rows\": %lld, \"shards\": %zu, \"corpus_bytes\": %lld, \"local_batch\": %lld, "
          "\"window_shards\": %lld, \"hash_split_shards\": %s, \"steps\": %lld, \"job_bytes_read\": %.0f, "
          "\"bytes_read_over_corpus\": %.4f, \"job_shards_opened\": %.0f, \"job_shards_hashed\": %.0f, "
          "\"global_batch_shards_mean\": %.2f, \"global_batch_shards_min\": %zu, \"local_batch_shards_mean\": %.2f, "
          "\"local_batch_shards_min\": %zu, \"shuffle_steps\": %lld, \"ranks\": [",
          world, static_cast<long long>(m.total_rows), m.shards.size(), static_cast<long long>(corpus_bytes),
          static_cast<long long>(o.local_batch), static_cast<long long>(o.window_shards),
          o.hash_split_shards ? "true" : "false", static_cast<long long>(steps), job_bytes,
          job_bytes / double(corpus_bytes), job_opens, job_hashed, global_sum / double(stat_steps), global_min,
          local_sum / double(stat_steps * world), local_min, static_cast<long long>(stat_steps));
      for (int r = 0; r < world; ++r) {
        const double* v = all.data() + static_cast<size_t>(r) * mine.size();
        std::printf(
            "%s{\"rank\": %d, \"bytes_read\": %.0f, \"shards_opened\": %.0f, \"shards_hashed\": %.0f, "
            "\"peak_rss_bytes\": %.0f, \"sentences_per_s\": %.0f}",
            r ? ", " : "", r, v[0], v[1], v[2], v[3], v[4]);
      }
      std::printf("]}\n");
    }
  } catch (const simcsepp::Error& e) {
    std::fprintf(stderr, "rank %d: %s [%s] HINT: %s\n", rank, e.what(), e.where().c_str(), e.hint().c_str());
    rc = 1;
  }
  MPI_Finalize();
  return rc;
}
