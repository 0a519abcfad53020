// run_directory.cpp - see run_directory.h.
#include "trainer/run_directory.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include "base/error.h"
#include "base/log.h"
#include "base/remove_tree.h"
#include "data/sha256.h"
#include "model/objective_config.h"
#include "trainer/checkpoint/checkpoint_file.h"
#include "trainer/checkpoint/training_checkpoint.h"
#include "trainer/train_options.h"

namespace simcsepp::trainer {

namespace fs = std::filesystem;

namespace {

constexpr const char* kIdentityFile = "run.json";

std::string new_run_id() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(gen()));
  return buf;
}

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string describe(const RunIdentity& id) {
  return "run " + id.run_id + " (started " + id.created + ", global batch " + std::to_string(id.global_batch) + ")";
}

// Options of the run that made `config` (a checkpoint's or metrics line's TrainOptions JSON)
// that differ from `now`, as "key: old -> new".
std::string changed_options(const nlohmann::json& then, const nlohmann::json& now) {
  std::string out;
  for (const auto& [key, value] : now.items()) {
    if (!then.contains(key) || then.at(key) == value) continue;
    if (!out.empty()) out += ", ";
    out += key + ": " + then.at(key).dump() + " -> " + value.dump();
  }
  return out;
}

bool holds_checkpoints(const fs::path& dir) { return !list_checkpoints(dir.string()).empty(); }

}  // namespace

nlohmann::json RunIdentity::to_json() const {
  return {{"run_id", run_id},
          {"created", created},
          {"options_sha256", options_sha256},
          {"corpus_sha256", corpus_sha256},
          {"model", model},
          {"global_batch", global_batch}};
}

RunIdentity RunIdentity::from_json(const nlohmann::json& j, const std::string& where) {
  try {
    RunIdentity id;
    id.run_id = j.at("run_id").get<std::string>();
    id.created = j.at("created").get<std::string>();
    id.options_sha256 = j.at("options_sha256").get<std::string>();
    id.corpus_sha256 = j.at("corpus_sha256").get<std::string>();
    id.model = j.at("model");
    id.global_batch = j.at("global_batch").get<int64_t>();
    return id;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed run identity: ") + e.what(), where,
                "restore the file from a backup, or start afresh with --overwrite (removes this run's files)");
  }
}

bool RunIdentity::same_run_as(const RunIdentity& other) const {
  return options_sha256 == other.options_sha256 && corpus_sha256 == other.corpus_sha256 && model == other.model &&
         global_batch == other.global_batch;
}

nlohmann::json run_defining_options(const TrainOptions& o) {
  nlohmann::json j = {{"objective", o.objective},
          {"max_len", o.max_len},
          {"lr", o.lr},
          {"weight_decay", o.weight_decay},
          {"warmup_steps", o.warmup_steps},
          {"temperature", o.temperature},
          {"pos_ratio", o.pos_ratio},
          {"dcl_weight", o.dcl_weight},
          {"dcl_temperature", o.dcl_temperature},
          {"hard_negative_weight", o.hard_negative_weight},
          {"grad_clip", o.grad_clip},
          {"pooler", o.pooler},
          {"seed", o.seed}};
  // DiffCSE's own options only for its runs: other runs keep the identity they always had.
  if (o.projector != "mlp") j["projector"] = o.projector;
  if (model::parse_objective(o.objective).rtd) {
    j["rtd_weight"] = o.rtd_weight;
    j["rtd_mask_ratio"] = o.rtd_mask_ratio;
  }
  return j;
}

RunIdentity current_run_identity(const TrainOptions& o, const model::BertConfig& bert, const std::string& manifest_path,
                                 int world_size) {
  RunIdentity id;
  id.run_id = new_run_id();
  id.created = utc_now();
  id.options_sha256 = data::sha256_hex(run_defining_options(o).dump());
  id.corpus_sha256 = data::sha256_file(manifest_path);
  id.model = {{"vocab_size", bert.vocab_size},
              {"hidden_size", bert.hidden_size},
              {"num_hidden_layers", bert.num_hidden_layers},
              {"num_attention_heads", bert.num_attention_heads},
              {"intermediate_size", bert.intermediate_size},
              {"max_position_embeddings", bert.max_position_embeddings}};
  id.global_batch = o.batch_size * o.grad_accum * world_size;
  return id;
}

nlohmann::json checkpoint_run_record(const RunIdentity& identity, const std::string& run_dir) {
  std::error_code ec;
  const auto abs = fs::weakly_canonical(fs::absolute(run_dir), ec);
  return {{"identity", identity.to_json()}, {"run_dir", ec ? run_dir : abs.string()}};
}

std::string resume_checkpoint(const TrainOptions& o) {
  if (o.resume == "none" || o.overwrite) return "";  // --overwrite with --resume: plan_run_directory refuses it
  if (o.resume != "auto") return o.resume;
  const std::string ckpts = (fs::path(o.run_dir) / "checkpoints").string();
  const auto files = list_checkpoints(ckpts);
  std::string newest = newest_valid_checkpoint(ckpts);
  if (newest.empty() && !files.empty()) {
    throw Error("--resume auto: every checkpoint in the run directory is corrupt (" + std::to_string(files.size()) +
                    " files, warnings above); starting at step 0 would train over this run's results",
                ckpts,
                "restore a good copy and pass it with --resume PATH, or start afresh with --overwrite "
                "(removes this run's files)");
  }
  return newest;
}

RunDirectoryPlan plan_run_directory(const TrainOptions& o, const RunIdentity& current, int64_t total_steps,
                                    const std::string& resume_from) {
  const fs::path run(o.run_dir);
  const fs::path ckpts = run / "checkpoints";
  RunDirectoryPlan plan;
  plan.identity = current;

  // Leftovers of writes cut short (temp + rename everywhere: a leftover is never the only copy,
  // except best/ between its two renames, which best.old then holds).
  if (fs::is_directory(ckpts)) {
    for (const auto& e : fs::directory_iterator(ckpts)) {
      if (e.path().filename().string().find(".ckpt.tmp.") != std::string::npos) plan.leftovers.push_back(e.path());
    }
  }
  if (fs::is_directory(run)) {
    for (const auto& e : fs::directory_iterator(run)) {
      const std::string name = e.path().filename().string();
      const bool tmp = name == "best.tmp" || name == "preempted.json.tmp" ||
                       name == std::string(kIdentityFile) + ".tmp" ||
                       (name.front() == '.' && name.size() > 11 && name.ends_with(".export-tmp")) ||
                       name.rfind("prometheus_targets.json.tmp.", 0) == 0;
      if (tmp) plan.leftovers.push_back(e.path());
    }
  }
  if (fs::exists(run / "best.old")) {
    if (fs::exists(run / "best")) {
      plan.leftovers.push_back(run / "best.old");
    } else {
      plan.restore_best = true;
    }
  }

  // Whose directory is it?
  const fs::path identity_file = run / kIdentityFile;
  std::optional<RunIdentity> recorded;
  if (fs::exists(identity_file)) {
    nlohmann::json j;
    try {
      std::ifstream in(identity_file);
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("run identity is not JSON: ") + e.what(), identity_file.string(),
                  "restore the file from a backup, or start afresh with --overwrite (removes this run's files)");
    }
    recorded = RunIdentity::from_json(j, identity_file.string());
  }
  for (const char* name :
       {kIdentityFile, "checkpoints", "best", "best.old", "model", "metrics.jsonl", "summary.json", "preempted.json",
        "report.html"}) {
    if (fs::exists(run / name)) plan.old_files.push_back((run / name).string());
  }
  const bool holds_run = recorded || holds_checkpoints(ckpts) || fs::exists(run / "best") ||
                         fs::exists(run / "model") || fs::exists(run / "metrics.jsonl") ||
                         fs::exists(run / "summary.json");

  if (o.overwrite) {
    if (o.resume != "none") {
      throw Error("--overwrite removes the run that --resume " + o.resume + " would continue", "--overwrite",
                  "drop --overwrite to continue the run, or drop --resume to start afresh");
    }
    plan.overwrite = holds_run;
    plan.write_identity = true;
    return plan;
  }

  plan.resume_from = resume_from;

  if (plan.resume_from.empty()) {
    if (!holds_run) {
      plan.write_identity = true;
      return plan;
    }
    if (o.resume == "auto" && recorded && recorded->same_run_as(current)) {
      plan.identity = *recorded;  // this run, stopped before its first checkpoint: start it again
      return plan;
    }
    const std::string whose = recorded ? describe(*recorded) : std::string("a run (its files, no run.json)");
    const std::string why = !recorded || o.resume == "none"
                                ? "starting a new run here would replace its best/, model/ and metrics"
                                : "it is a different run (options, corpus, model or global batch differ) and has "
                                  "no checkpoint to continue from";
    throw Error("the run directory holds " + whose + ": " + why, o.run_dir,
                "continue that run with --resume auto, start afresh with --overwrite (removes its files first), or "
                "pick another --run-dir");
  }

  // Resuming: the checkpoint must be this run's and fit what this start would train.
  const nlohmann::json meta = read_checkpoint_meta(plan.resume_from);
  if (meta.value("format", "") != "simcsepp-training-checkpoint") {
    throw Error("not a training checkpoint", plan.resume_from, "pass a file from <run-dir>/checkpoints");
  }
  const int64_t step = meta.at("step").get<int64_t>();
  if (step > total_steps) {
    throw Error("the checkpoint is at step " + std::to_string(step) + ", beyond this run's " +
                    std::to_string(total_steps) + " steps",
                plan.resume_from, "raise --max-steps (or --epochs) to train on from it, or pick an earlier checkpoint");
  }
  const nlohmann::json config = meta.value("config", nlohmann::json::object());
  if (!config.contains("run")) {
    LOG_WARN("checkpoint " << plan.resume_from
                           << " predates run identities: its corpus, model and global batch are not checked");
    if (recorded) plan.identity = *recorded;
    plan.write_identity = !recorded;
    return plan;
  }
  const auto& record = config.at("run");
  const RunIdentity saved = RunIdentity::from_json(record.at("identity"), plan.resume_from);
  const std::string saved_dir = record.value("run_dir", "");
  std::error_code ec;
  const bool same_dir = !saved_dir.empty() && fs::equivalent(saved_dir, run, ec);
  if ((recorded && saved.run_id != recorded->run_id) || (!recorded && !same_dir)) {
    throw Error("the checkpoint belongs to " + describe(saved) + " in run directory " + saved_dir +
                    (recorded ? ", this run directory holds " + describe(*recorded) : std::string()),
                plan.resume_from,
                "continue that run with --run-dir " + saved_dir +
                    " --resume auto; to start a new run from its weights, export its best/ (simcsepp export) "
                    "and pass that as --model");
  }
  if (saved.corpus_sha256 != current.corpus_sha256) {
    throw Error("the checkpoint was trained on another corpus (manifest sha256 " + saved.corpus_sha256.substr(0, 12) +
                    "..., --corpus " + o.corpus_dir + " has " + current.corpus_sha256.substr(0, 12) + "...)",
                plan.resume_from, "resume with the corpus it was trained on, or start a new run directory");
  }
  if (saved.model != current.model) {
    throw Error("the checkpoint is of another model shape (" + saved.model.dump() + ", --model " + o.model_dir +
                    " is " + current.model.dump() + ")",
                plan.resume_from, "resume with the model it was trained from, or start a new run directory");
  }
  const bool batch_changed = saved.global_batch != current.global_batch;
  if (batch_changed && !o.allow_batch_change) {
    throw Error("the checkpoint's run has a global batch of " + std::to_string(saved.global_batch) +
                    " sentences per update, this start " + std::to_string(current.global_batch) +
                    " (--batch-size x --grad-accum x ranks)",
                plan.resume_from,
                "keep --batch-size x --grad-accum x ranks equal to " + std::to_string(saved.global_batch) +
                    ", pass --allow-batch-change to continue with the new one, or start a new run directory");
  }
  if (saved.options_sha256 != current.options_sha256) {
    LOG_WARN("resuming with changed options (" << changed_options(config, run_defining_options(o)) << ")");
  }
  plan.identity = saved;
  plan.write_identity = !recorded;
  if (batch_changed) {  // --allow-batch-change: this run goes on with the new global batch
    plan.identity.global_batch = current.global_batch;
    plan.write_identity = true;
  }
  return plan;
}

StartShape start_shape(const TrainOptions& o, int world_size, const std::string& resume_from) {
  StartShape shape;
  shape.batch_size = o.batch_size;
  if (resume_from.empty()) return shape;
  const std::string& path = resume_from;
  nlohmann::json meta;
  try {
    meta = read_checkpoint_meta(path);
  } catch (const Error&) {
    return shape;  // plan_run_directory reports the file
  }
  if (!meta.is_object() || !meta.contains("world_size") || !meta.contains("config") || !meta["config"].contains("run")) {
    return shape;
  }
  shape.checkpoint = meta;
  const int saved_world = meta.at("world_size").get<int>();
  const int64_t global = meta["config"]["run"]["identity"].value("global_batch", int64_t{0});
  const int64_t per_update = static_cast<int64_t>(world_size) * o.grad_accum;
  shape.saved_global_batch = global;
  if (global <= 0 || o.batch_size * per_update == global) return shape;
  // On the checkpoint's world size and --grad-accum a changed --batch-size is a changed recipe:
  // plan_run_directory refuses it unless --allow-batch-change. Another world size (a requeue
  // onto other nodes with the same config) or another --grad-accum (to fit memory) keeps it.
  const int64_t saved_accum = meta["config"].value("grad_accum", int64_t{1});
  if (saved_world == world_size && saved_accum == o.grad_accum && !o.allow_batch_change) return shape;
  if (o.allow_batch_change) {
    shape.batch_changed = true;
    LOG_WARN("--allow-batch-change: the global batch changes from " << global << " to " << o.batch_size * per_update
                                                                    << " sentences per update; the schedule continues "
                                                                       "by update count and the epoch in progress "
                                                                       "continues from the rows it consumed");
    return shape;
  }
  if (global % per_update != 0) {
    throw Error("the checkpoint's run has a global batch of " + std::to_string(global) + " sentences per update on " +
                    std::to_string(saved_world) + " ranks; " + std::to_string(world_size) + " ranks x --grad-accum " +
                    std::to_string(o.grad_accum) + " cannot split it exactly",
                path,
                "choose --grad-accum (or the number of ranks) so that ranks x --grad-accum divides " +
                    std::to_string(global) +
                    ", pass --allow-batch-change to continue with another global batch, or start a new run directory");
  }
  shape.batch_size = global / per_update;
  LOG_INFO("resuming a checkpoint of " << saved_world << " rank(s) on " << world_size << ": --batch-size "
                                       << shape.batch_size << " per rank (given " << o.batch_size
                                       << ") keeps its global batch of " << global << " with --grad-accum "
                                       << o.grad_accum << " (--allow-batch-change to change it)");
  return shape;
}

RunIdentity read_run_identity(const std::string& run_dir) {
  const fs::path path = fs::path(run_dir) / kIdentityFile;
  std::ifstream in(path);
  if (!in)
    throw Error("cannot read the run identity", path.string(),
                "is the run directory on a file system every rank shares?");
  try {
    return RunIdentity::from_json(nlohmann::json::parse(in), path.string());
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("run identity is not JSON: ") + e.what(), path.string(), "");
  }
}

void apply_run_directory_plan(const std::string& run_dir, const RunDirectoryPlan& plan) {
  const fs::path run(run_dir);
  if (plan.overwrite) {
    for (const auto& f : plan.old_files) remove_tree(f);
    LOG_WARN("--overwrite: removed the previous run's files from " << run_dir);
  }
  for (const auto& f : plan.leftovers) {
    remove_tree(f);
    LOG_INFO("removed " << f << " (left by an interrupted write)");
  }
  if (plan.restore_best && !plan.overwrite) {
    fs::rename(run / "best.old", run / "best");
    LOG_WARN("restored " << (run / "best").string() << " from best.old (a best-model update was interrupted)");
  }
  fs::create_directories(run);
  if (plan.write_identity) {
    const fs::path tmp = run / (std::string(kIdentityFile) + ".tmp");
    std::ofstream(tmp) << plan.identity.to_json().dump(2) << "\n";
    fs::rename(tmp, run / kIdentityFile);
  }
}

}  // namespace simcsepp::trainer
