// training_checkpoint.h - everything a run needs to continue exactly where it stopped:
// model parameters, AdamW moments and step, the update counter (the schedule is a function of
// it), the CPU and CUDA RNG states of every rank (dropout masks), the data-reader position, the
// best dev score and its step, skip counters and the run's config. Files are
// <run_dir>/checkpoints/step-<8 digits>.ckpt in checkpoint_file.h's atomic, checksummed format.
//
// Collective: save_/load_training_checkpoint must be called by every rank (RNG states are
// all-gathered; rank 0 writes). Resume: newest_valid_checkpoint() skips corrupt files with a
// warning, so a crash while writing never blocks `--resume auto`.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cluster/communicator.h"
#include "data/corpus_reader.h"
#include "trainer/checkpoint/async_checkpoint_writer.h"
#include "trainer/train_step.h"

namespace simcsepp::trainer {

struct TrainProgress {
  int64_t step = 0;  // updates done (including skipped ones)
  data::ReaderPosition reader;
  // The layout reader.epoch uses (docs/training.md#resharding): its world size and local batch
  // (0: this job's), and the rows of its global order consumed (CorpusReader::rows_consumed).
  int layout_world_size = 0;
  int64_t layout_local_batch = 0;
  int64_t global_rows_consumed = 0;
  int64_t total_steps = 0;  // the schedule's length (kept when a resume changes the global batch)
  double best_score = -1e30;  // STS-B dev Spearman x100 of the best checkpoint so far
  int64_t best_step = -1;
  int64_t skipped_total = 0;
  int64_t consecutive_skips = 0;
  double train_seconds = 0;  // wall time spent training before this checkpoint
};

// Writes <dir>/step-<step>.ckpt (rank 0) and keeps only the newest `keep` (keep <= 0: all).
// Returns the path. Call on every rank, with a writer on every rank or on none. Without one,
// the file is durable on return (a barrier: no rank moves on before). With one, rank 0 hands
// a snapshot to it and returns at once; `background->wait()` makes the file durable.
std::string save_training_checkpoint(const std::string& dir, TrainStep& step, cluster::Communicator& comm,
                                     const TrainProgress& progress, const nlohmann::json& run_config, int keep,
                                     AsyncCheckpointWriter* background = nullptr);

// Restores model, optimizer, update counter and this rank's RNG states; returns the progress.
// Throws simcsepp::Error if the file is invalid or was written for another model. On another
// world size (resharded resume) each rank's RNG is re-seeded from (reader seed, rank, step)
// instead of restored (docs/training.md#resharding).
TrainProgress load_training_checkpoint(const std::string& path, TrainStep& step, cluster::Communicator& comm,
                                       nlohmann::json* run_config = nullptr);

// Checkpoint files in `dir`, oldest first (by step).
std::vector<std::string> list_checkpoints(const std::string& dir);
// Newest checkpoint whose checksum verifies; warns about each corrupt one skipped; "" if none.
std::string newest_valid_checkpoint(const std::string& dir);

}  // namespace simcsepp::trainer
