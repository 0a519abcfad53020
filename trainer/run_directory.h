// run_directory.h - a run directory belongs to one run; what a start may do there is decided
// before any work.
//
// RUN/run.json, written when a run starts, records whose directory it is: a random run id, the
// creation time, the sha256 of the options that define the run (objective, its parameters,
// learning rate and schedule, seed, pooler, sequence length), the corpus fingerprint (sha256 of
// its manifest.json, which holds every shard's sha256), the model's shape and the global batch.
// Checkpoints carry the run id and the same fingerprints. plan_run_directory() then decides:
//   - a fresh start (--resume none) where another run's files are (run.json, checkpoints, best/,
//     model/, metrics.jsonl, summary.json) is refused with a HINT, unless --overwrite, which
//     removes them first (and an old report.html); --resume auto finding no checkpoint continues
//     only the run recorded there (same identity), else it is refused like a fresh start;
//   - --resume auto when every checkpoint is corrupt is an error, never a silent start at step 0
//     over the old results;
//   - the checkpoint resumed from must belong to this directory's run (run id), be at a step
//     within the run's length, and match the corpus, the model shape and the global batch (a
//     changed global batch only with --allow-batch-change; run.json then records the new one);
//   - leftovers of interrupted writes (checkpoints/*.tmp.*, best.tmp, preempted.json.tmp, model
//     export temp directories) are removed; a best/ lost between two renames is restored.
// Every rank plans (read-only, same files, same answer, same error); rank 0 applies the plan.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/bert_config.h"

namespace simcsepp::trainer {

struct TrainOptions;

struct RunIdentity {
  std::string run_id;          // random, made when the run starts
  std::string created;         // UTC, ISO 8601
  std::string options_sha256;  // of run_defining_options()
  std::string corpus_sha256;   // of the corpus's manifest.json
  nlohmann::json model;        // the encoder's shape (hidden size, layers, heads, ...)
  int64_t global_batch = 0;    // sentences per update over all ranks

  nlohmann::json to_json() const;
  static RunIdentity from_json(const nlohmann::json& j, const std::string& where);
  // Same run: everything but run_id and created.
  bool same_run_as(const RunIdentity& other) const;
};

// The options that make a run what it is (not its length, logging, devices or metrics).
nlohmann::json run_defining_options(const TrainOptions& o);

// The identity a start with these options would record (a new run id).
RunIdentity current_run_identity(const TrainOptions& o, const model::BertConfig& bert,
                                 const std::string& manifest_path, int world_size);

struct RunDirectoryPlan {
  std::string resume_from;             // checkpoint to resume from; empty: start at step 0
  bool overwrite = false;              // remove the old run's files first (--overwrite)
  std::vector<std::string> old_files;  // what --overwrite removes
  std::vector<std::string> leftovers;  // temp files and directories of interrupted writes
  bool restore_best = false;           // best/ is missing and best.old holds the last one
  RunIdentity identity;                // this run's (kept from run.json when continuing it)
  bool write_identity = false;         // run.json is (re)written
};

// The checkpoint this start resumes from: --resume PATH, the newest valid one for auto ("" when
// there is none), "" for a fresh start. --resume auto when every checkpoint is corrupt is an
// Error. Read-only, on every rank (same files, same answer).
std::string resume_checkpoint(const TrainOptions& o);

// Read-only, on every rank. Throws simcsepp::Error (the run directory or checkpoint named,
// with a HINT) when the start is refused. `total_steps`: the run's length in updates;
// `resume_from`: resume_checkpoint(o).
RunDirectoryPlan plan_run_directory(const TrainOptions& o, const RunIdentity& current, int64_t total_steps,
                                    const std::string& resume_from);

// The shape of this start next to the checkpoint it resumes (docs/training.md "Resharding").
// On another world size or --grad-accum than the checkpoint's the per-rank batch keeps the
// checkpoint's global batch exactly (the global batches, and so the run, then continue
// unchanged), logged when it differs from --batch-size; an Error with a HINT when the global
// batch cannot be split so. On the same world size and --grad-accum --batch-size stays as given
// (plan_run_directory refuses a changed global batch). With --allow-batch-change --batch-size
// stays as given and a changed global batch is warned about.
// Fresh starts and checkpoints without a run record: --batch-size as given. Read-only, on every
// rank; reads the header of `resume_from` (resume_checkpoint(o)).
struct StartShape {
  int64_t batch_size = 0;          // per rank, per micro-batch
  bool batch_changed = false;      // --allow-batch-change took another global batch
  int64_t saved_global_batch = 0;  // the checkpoint's (0: none)
  nlohmann::json checkpoint;       // the header of the checkpoint resumed from (null: none or unreadable)
};
StartShape start_shape(const TrainOptions& o, int world_size, const std::string& resume_from);

// Rank 0: removes leftovers (and with --overwrite the old run's files), writes run.json.
void apply_run_directory_plan(const std::string& run_dir, const RunDirectoryPlan& plan);

// RUN/run.json (every rank reads rank 0's after the plan is applied: one run id for all).
RunIdentity read_run_identity(const std::string& run_dir);

// What a checkpoint records of the run (training_checkpoint.cpp stores it in its meta).
nlohmann::json checkpoint_run_record(const RunIdentity& identity, const std::string& run_dir);

}  // namespace simcsepp::trainer
