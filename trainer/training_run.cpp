// training_run.cpp - see training_run.h.
#include "trainer/training_run.h"

#include <torch/torch.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "simcsepp/build_config.h"
#if SIMCSEPP_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "cluster/base/error.h"
#include "cluster/base/log.h"
#include "cluster/base/remove_tree.h"
#include "cluster/bootstrap.h"
#include "cluster/parameter_divergence.h"
#include "data/corpus_reader.h"
#include "trainer/checkpoint_file.h"
#include "data/manifest.h"
#include "data/sts_readers.h"
#include "data/wordpiece_tokenizer.h"
#include "model/attention_backend.h"
#include "model/flop_count.h"
#include "model/hf_checkpoint.h"
#include "model/mlm_generator.h"
#include "model/rtd_discriminator.h"
#include "monitoring/embedding_diagnostics.h"
#include "report/run_report.h"
#include "trainer/cli/exit_codes.h"
#include "trainer/metrics_log.h"
#include "trainer/model_card.h"
#include "trainer/preemption.h"
#include "trainer/rank_timings.h"
#include "trainer/run_directory.h"
#include "trainer/run_metrics.h"
#include "trainer/sentence_embedder.h"
#include "trainer/sts_evaluation.h"
#include "trainer/chunked_forward_backward.h"
#include "trainer/train_step.h"
#include "trainer/training_checkpoint.h"

namespace simcsepp::trainer {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Options

void TrainOptions::validate() const {
  auto need = [](bool ok, const std::string& what, const std::string& key, const std::string& hint) {
    if (!ok) throw Error(what, key, hint);
  };
  need(!model_dir.empty(), "no model directory given", "--model", "pass a Hugging Face BERT directory");
  need(!corpus_dir.empty(), "no corpus given", "--corpus", "pass the output directory of `simcsepp prep`");
  need(!run_dir.empty(), "no run directory given", "--run-dir", "pass a directory for checkpoints and logs");
  need(batch_size > 0, "batch size must be > 0, got " + std::to_string(batch_size), "--batch-size",
       "the paper uses 64 per GPU");
  need(max_len > 1, "max length must be > 1, got " + std::to_string(max_len), "--max-len", "the paper uses 32");
  need(std::isfinite(lr) && lr > 0, "learning rate must be > 0, got " + std::to_string(lr), "--lr",
       "the paper uses 3e-5 for BERT-base");
  need(std::isfinite(weight_decay) && weight_decay >= 0, "weight decay must be >= 0", "--weight-decay",
       "use 0 (the paper)");
  need(warmup_steps >= 0, "warmup steps must be >= 0", "--warmup-steps", "use 0 (the paper)");
  need(max_steps >= 0, "max steps must be >= 0", "--max-steps", "0 means --epochs decides");
  need(std::isfinite(epochs) && epochs > 0, "epochs must be > 0", "--epochs", "the paper trains 1 epoch");
  need(std::isfinite(grad_clip) && grad_clip >= 0, "gradient clip must be >= 0", "--grad-clip", "0 turns clipping off");
  need(grad_accum >= 1, "gradient accumulation must be >= 1", "--grad-accum", "1 = no accumulation");
  need(chunk_size >= 0, "chunk size must be >= 0, got " + std::to_string(chunk_size), "--chunk-size",
       "0 turns gradient caching off; otherwise sentences per encoder chunk, e.g. 64 (need not divide "
       "--batch-size: the last chunk is shorter)");
  need(logits_budget >= 0, "logits budget must be >= 0, got " + std::to_string(logits_budget), "--logits-budget",
       "0 = the instance loss always dense; the default 67108864 (2^26 logits, 256 MiB in fp32)");
  need(eval_every >= 0, "eval interval must be >= 0", "--eval-every", "the paper evaluates every 125 steps");
  need(checkpoint_every >= 0, "checkpoint interval must be >= 0", "--checkpoint-every", "0 = at every evaluation");
  need(keep_checkpoints >= 1, "must keep at least one checkpoint", "--keep-checkpoints", "the default keeps 3");
  need(max_skipped_steps >= 1, "max skipped steps must be >= 1", "--max-skipped-steps", "the default is 10");
  need(log_every >= 1, "log interval must be >= 1", "--log-every", "");
  need(bucket_mb >= 1, "bucket size must be >= 1 MiB", "--bucket-mb", "the default is 25 (PyTorch DDP's)");
  need(check_params_every >= 0, "parameter check interval must be >= 0", "--check-params-every", "0 = off");
  need(diagnostics_every >= 0, "diagnostics interval must be >= 0", "--diagnostics-every", "0 = off");
  need(std::isfinite(peak_tflops) && peak_tflops >= 0, "peak TFLOP/s must be >= 0", "--peak-tflops",
       "e.g. 989 for an H100 SXM in bf16; 0 = look the GPU up by name");
  need(metrics_port >= 0 && metrics_port < 65536, "metrics port out of range", "--metrics-port",
       "use a free port base, e.g. 9400 (rank L serves base + L)");
  {
    unsigned char addr[sizeof(in6_addr)];
    need(inet_pton(AF_INET, metrics_bind.c_str(), addr) == 1 || inet_pton(AF_INET6, metrics_bind.c_str(), addr) == 1,
         "'" + metrics_bind + "' is not an IP address", "--metrics-bind",
         "use 127.0.0.1 (this host only), 0.0.0.0 (all interfaces) or an address of one of this host's interfaces");
  }
  need(precision == "auto" || precision == "bf16" || precision == "fp32", "unknown precision '" + precision + "'",
       "--precision", "use auto (bf16 on a GPU, fp32 on a CPU), bf16, or fp32 (e.g. to debug on a GPU)");
  model::parse_attention_backend(attention_backend);  // throws, naming --attention-backend
  need(eval_precision == "fp32" || eval_precision == "bf16", "unknown evaluation precision '" + eval_precision + "'",
       "--eval-precision", "use fp32 (the default, as `simcsepp eval`) or bf16");
  if (resume != "none" && resume != "auto" && !fs::is_regular_file(resume)) {
    if (fs::is_directory(resume)) {
      throw Error("'" + resume + "' is a directory; --resume takes a checkpoint file, auto or none", "--resume",
                  "pass one of the files in " + (fs::path(resume) / "checkpoints").string() +
                      ", or --resume auto with --run-dir set to that run to pick its newest valid checkpoint");
    }
    throw Error("resume checkpoint '" + resume + "' does not exist", "--resume", "use none, auto or a checkpoint file");
  }
  auto objective_cfg = model::parse_objective(objective);
  objective_cfg.temperature = temperature;
  objective_cfg.pos_ratio = pos_ratio;
  objective_cfg.dcl_weight = dcl_weight;
  objective_cfg.dcl_temperature = dcl_temperature;
  objective_cfg.hard_negative_weight = hard_negative_weight;
  objective_cfg.rtd_weight = rtd_weight;
  objective_cfg.rtd_mask_ratio = rtd_mask_ratio;
  objective_cfg.validate();
  need(projector == "mlp" || projector == "batchnorm", "unknown projector '" + projector + "'", "--projector",
       "use mlp (SimCSE's head) or batchnorm (DiffCSE's BatchNorm projector)");
  if (projector == "batchnorm") {
    need(pooler == "cls", "the BatchNorm projector is the head of the cls pooler, not of " + pooler, "--pooler",
         "use --pooler cls with --projector batchnorm");
    need(eval_pooler != "cls", "the BatchNorm projector exists only in training: evaluation cannot use it",
         "--eval-pooler", "use cls_before_pooler (DiffCSE's --mlp_only_train)");
    need(chunk_size == 0, "the BatchNorm projector does not run with gradient caching", "--chunk-size",
         "use --chunk-size 0 (or --grad-accum for large batches)");
  }
  if (objective_cfg.rtd) {
    need(!generator_dir.empty(), "objective " + objective + " needs a generator", "--generator",
         "pass a Hugging Face masked-LM directory, e.g. distilbert-base-uncased saved with save_pretrained");
    need(fs::is_directory(generator_dir), "generator directory '" + generator_dir + "' does not exist", "--generator",
         "pass a Hugging Face masked-LM directory (config.json + model.safetensors)");
    need(discriminator_dir.empty() || fs::is_directory(discriminator_dir),
         "discriminator directory '" + discriminator_dir + "' does not exist", "--discriminator",
         "leave it empty to start the discriminator from --model");
    need(chunk_size == 0, "DiffCSE does not run with gradient caching", "--chunk-size",
         "use --chunk-size 0 (or --grad-accum for large batches)");
  }
  model::parse_pooler(pooler);
  model::parse_pooler(eval_pooler);
}

nlohmann::json TrainOptions::to_json() const {
  return {{"model", model_dir},
          {"corpus", corpus_dir},
          {"run_dir", run_dir},
          {"objective", objective},
          {"batch_size", batch_size},
          {"max_len", max_len},
          {"lr", lr},
          {"weight_decay", weight_decay},
          {"warmup_steps", warmup_steps},
          {"max_steps", max_steps},
          {"epochs", epochs},
          {"temperature", temperature},
          {"pos_ratio", pos_ratio},
          {"dcl_weight", dcl_weight},
          {"dcl_temperature", dcl_temperature},
          {"hard_negative_weight", hard_negative_weight},
          {"projector", projector},
          {"generator", generator_dir},
          {"discriminator", discriminator_dir},
          {"rtd_weight", rtd_weight},
          {"rtd_mask_ratio", rtd_mask_ratio},
          {"grad_clip", grad_clip},
          {"grad_accum", grad_accum},
          {"chunk_size", chunk_size},
          {"logits_budget", logits_budget},
          {"eval_every", eval_every},
          {"sts_dev", sts_dev},
          {"pooler", pooler},
          {"eval_pooler", eval_pooler},
          {"seed", seed},
          {"checkpoint_every", checkpoint_every},
          {"keep_checkpoints", keep_checkpoints},
          {"sync_checkpoints", sync_checkpoints},
          {"allow_batch_change", allow_batch_change},
          {"max_skipped_steps", max_skipped_steps},
          {"device", device},
          {"comm", comm},
          {"bucket_mb", bucket_mb},
          {"check_params_every", check_params_every},
          {"diagnostics_every", diagnostics_every},
          {"peak_tflops", peak_tflops},
          {"precision", precision},
          {"eval_precision", eval_precision},
          {"attention_backend", attention_backend}};
}

Precisions resolve_precisions(const TrainOptions& o, bool cuda_device) {
  return {.train_bf16 = o.precision == "bf16" || (o.precision == "auto" && cuda_device),
          .eval_bf16 = o.eval_precision == "bf16"};
}

namespace {

// ---------------------------------------------------------------------------------------------
// Input checks that need the files (before any training work).

struct Inputs {
  data::Manifest manifest;
  std::string vocab_path;
  model::BertConfig bert;
  data::StsPairSet dev_pairs;
};

Inputs check_inputs(const TrainOptions& o, const model::ObjectiveConfig& objective) {
  Inputs in;
  const fs::path model(o.model_dir);
  if (!fs::is_directory(model)) {
    throw Error(fs::exists(model) ? "--model is a file, not a model directory" : "model directory does not exist",
                o.model_dir, "pass a Hugging Face BERT directory (config.json, weights, vocab.txt) to --model");
  }
  in.vocab_path = (model / "vocab.txt").string();
  if (!fs::is_regular_file(in.vocab_path)) {
    throw Error("model directory has no vocab.txt", in.vocab_path,
                "the trainer needs the model's WordPiece vocabulary");
  }
  in.bert = model::BertConfig::from_json_file((model / "config.json").string());
  in.manifest = data::Manifest::load(o.corpus_dir);
  if (o.max_len > in.bert.max_position_embeddings) {
    throw Error("--max-len " + std::to_string(o.max_len) + " exceeds the model's max_position_embeddings " +
                    std::to_string(in.bert.max_position_embeddings),
                "--max-len", "use at most " + std::to_string(in.bert.max_position_embeddings));
  }
  if (in.manifest.max_len != o.max_len) {
    throw Error("the corpus was prepared with max_len " + std::to_string(in.manifest.max_len) + ", --max-len is " +
                    std::to_string(o.max_len),
                o.corpus_dir + "/manifest.json",
                "pass --max-len " + std::to_string(in.manifest.max_len) + " or re-run `simcsepp prep --max-len " +
                    std::to_string(o.max_len) + "`");
  }
  const auto tokenizer = data::WordPieceTokenizer::from_vocab_file(in.vocab_path, in.manifest.lowercase);
  if (tokenizer.vocab_sha256() != in.manifest.vocab_sha256) {
    throw Error("the corpus was made with another vocabulary than the model's (vocab sha256 " +
                    in.manifest.vocab_sha256.substr(0, 12) + "... vs " + tokenizer.vocab_sha256().substr(0, 12) +
                    "...)",
                o.corpus_dir + "/manifest.json",
                "re-run `simcsepp prep --vocab " + in.vocab_path + "` or pass the matching --model");
  }
  if (in.manifest.vocab_size > in.bert.vocab_size) {
    throw Error("corpus vocabulary (" + std::to_string(in.manifest.vocab_size) +
                    ") larger than the model's vocab_size " + std::to_string(in.bert.vocab_size),
                o.model_dir + "/config.json", "use the model the corpus was prepared for");
  }
  const size_t columns = in.manifest.columns.size();
  if (objective.supervised && columns < 2) {
    throw Error("objective " + objective.name() + " needs sentence pairs or triplets; the corpus has one column",
                o.corpus_dir + "/manifest.json", "prepare NLI triplets or use --objective simcse++");
  }
  if (!fs::is_regular_file(o.sts_dev)) {
    throw Error(fs::is_directory(o.sts_dev) ? "STS-B dev file is a directory" : "STS-B dev file not found", o.sts_dev,
                "pass --sts-dev PATH/STSBenchmark/sts-dev.csv");
  }
  // The dev score picks the best checkpoint: a file it cannot rank (no pairs, one gold score)
  // would make every score NaN and the run end without a model.
  in.dev_pairs = data::read_stsbenchmark(o.sts_dev);
  const auto& gold = in.dev_pairs.gold;
  if (gold.size() < 2 || std::adjacent_find(gold.begin(), gold.end(), std::not_equal_to<>()) == gold.end()) {
    throw Error("the STS-B dev file has " + std::to_string(gold.size()) +
                    " pair(s) and no two different gold scores: a Spearman correlation over it is undefined, so no "
                    "checkpoint could be chosen as best",
                o.sts_dev, "pass SentEval's STSBenchmark/sts-dev.csv (1500 pairs)");
  }
  return in;
}

// ---------------------------------------------------------------------------------------------
// Output a person can follow.

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

class Progress {
 public:
  Progress(int64_t total, int64_t log_every, bool enabled)
      : total_(total), log_every_(log_every), enabled_(enabled), tty_(enabled && ::isatty(STDERR_FILENO)) {}

  void update(int64_t step, double loss, double sentences_per_s, double eta_s, double last_dev, bool skipped) {
    if (!enabled_) return;
    std::ostringstream os;
    char lossbuf[32];
    std::snprintf(lossbuf, sizeof(lossbuf), "%.4f", loss);
    os << "step " << step << "/" << total_ << " loss " << lossbuf << (skipped ? " (skipped)" : "") << " | "
       << static_cast<int64_t>(sentences_per_s) << " sent/s | ETA " << format_duration(eta_s);
    if (std::isfinite(last_dev)) {
      char devbuf[32];
      std::snprintf(devbuf, sizeof(devbuf), "%.2f", last_dev);
      os << " | dev " << devbuf;
    }
    if (tty_) {
      const int width = 24;
      const int filled = static_cast<int>(width * step / std::max<int64_t>(1, total_));
      std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << os.str() << "\033[K"
                << std::flush;
    } else if (step % log_every_ == 0 || step == total_) {
      LOG_INFO(os.str());
    }
  }
  // Ends the bar line before other log output.
  void break_line() {
    if (tty_) std::cerr << "\n";
  }

 private:
  int64_t total_, log_every_;
  bool enabled_, tty_;
};

// ---------------------------------------------------------------------------------------------
// The best model so far: weights + config in <run>/best, replaced atomically (tmp dir, renames).

// RUN/preempted.json: every rank has saved the preemption checkpoint at `step`. The Slurm
// launcher requeues on it (it removes the file before each launch), whatever exit code
// srun/mpirun report. Written to a temporary name and renamed, so it is never seen half-written.
void write_preempted_marker(const std::string& run_dir, int64_t step, int signal) {
  const fs::path marker = fs::path(run_dir) / "preempted.json";
  const fs::path tmp = fs::path(run_dir) / "preempted.json.tmp";
  std::ofstream(tmp) << nlohmann::json{{"step", step}, {"signal", signal}}.dump() << "\n";
  fs::rename(tmp, marker);
}

void save_best(model::SentenceEncoder& encoder, const std::string& run_dir, int64_t step, double score) {
  const fs::path best = fs::path(run_dir) / "best";
  const fs::path tmp = fs::path(run_dir) / "best.tmp";
  const fs::path old = fs::path(run_dir) / "best.old";
  remove_tree(tmp);
  fs::create_directories(tmp);
  model::save_sentence_encoder_weights(encoder, (tmp / "model.safetensors").string());
  std::ofstream(tmp / "config.json") << encoder->config().to_json().dump(2);
  std::ofstream(tmp / "best.json") << nlohmann::json{{"step", step}, {"sts_dev_spearman_x100", score}}.dump(2);
  remove_tree(old);
  if (fs::exists(best)) fs::rename(best, old);
  fs::rename(tmp, best);
  remove_tree(old);
}

// Peak dense FLOP/s of this rank's device for MFU: --peak-tflops, else the GPU's datasheet
// number by name; 0 (no MFU) on a CPU or an unknown GPU.
double peak_flops(const TrainOptions& o, torch::Device device, bool bf16) {
  if (o.peak_tflops > 0) return o.peak_tflops * 1e12;
#if SIMCSEPP_HAVE_CUDA
  if (device.is_cuda()) {
    const std::string name = at::cuda::getDeviceProperties(device.index())->name;
    const double peak = model::peak_flops_per_second(name, bf16);
    if (peak <= 0) LOG_WARN("no peak FLOP/s known for GPU '" << name << "': pass --peak-tflops to export MFU");
    return peak;
  }
#endif
  (void)device;
  (void)bf16;
  return 0.0;
}

// Test hook (see docs/training.md): SIGKILL this process right after update S, to test resume;
// with SIMCSEPP_TEST_KILL_RANK=R only rank R does (a lost rank, to test the launcher's grace kill).
int64_t kill_after_step_for_tests(int rank) {
  const char* v = std::getenv("SIMCSEPP_TEST_KILL_AFTER_STEP");
  const char* only = std::getenv("SIMCSEPP_TEST_KILL_RANK");
  if (only && *only && std::atoi(only) != rank) return -1;
  return v ? std::atoll(v) : -1;
}

// Test hook (see docs/training.md): with SIMCSEPP_TEST_HOLD_FILE=PATH, right after update S
// (its metrics recorded, /metrics still served) wait while the file PATH.S exists, so a test
// observes the live run for as long as it needs instead of counting on the run's speed; with
// SIMCSEPP_TEST_HOLD_RANK=R only rank R waits (a rank still busy while the others are done).
// PATH.end holds after the run's last barrier, where the other ranks go on to MPI_Finalize.
void hold_for_tests(const std::string& point, int rank) {
  const char* v = std::getenv("SIMCSEPP_TEST_HOLD_FILE");
  const char* only = std::getenv("SIMCSEPP_TEST_HOLD_RANK");
  if (!v || !*v || (only && *only && std::atoi(only) != rank)) return;
  const fs::path hold = std::string(v) + "." + point;
  while (fs::exists(hold)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

// Test hook (see docs/training.md): with SIMCSEPP_TEST_BATCH_ROWS=PATH each rank appends one line
// per micro-batch to PATH.<rank>: "update micro epoch step_in_epoch row..." (corpus row ids), so
// a test can compare the global batches of a resharded run with the uninterrupted one's.
std::optional<std::ofstream> batch_rows_log_for_tests(int rank) {
  const char* v = std::getenv("SIMCSEPP_TEST_BATCH_ROWS");
  if (!v || !*v) return std::nullopt;
  return std::ofstream(std::string(v) + "." + std::to_string(rank), std::ios::app);
}

bool hold_requested_for_tests(const std::string& point, int rank) {
  const char* v = std::getenv("SIMCSEPP_TEST_HOLD_FILE");
  const char* only = std::getenv("SIMCSEPP_TEST_HOLD_RANK");
  if (!v || !*v || (only && *only && std::atoi(only) != rank)) return false;
  return fs::exists(std::string(v) + "." + point);
}

// DiffCSE's generator (frozen) and discriminator (trained) on the run's device, with the masking
// rule of the run's vocabulary. Both must share the encoder's vocabulary: the generator reads and
// writes its token ids.
std::shared_ptr<RtdParts> make_rtd_parts(const TrainOptions& o, const data::WordPieceTokenizer& tokenizer,
                                         const model::BertConfig& bert, torch::Device device, int rank) {
  auto parts = std::make_shared<RtdParts>();
  parts->generator = model::load_mlm_generator(o.generator_dir);
  if (parts->generator->config().vocab_size != bert.vocab_size) {
    throw Error("the generator's vocabulary has " + std::to_string(parts->generator->config().vocab_size) +
                    " tokens, the encoder's " + std::to_string(bert.vocab_size),
                o.generator_dir, "use a generator trained with the encoder's vocabulary (the paper: distilbert-base-uncased "
                                 "for bert-base-uncased)");
  }
  if (tokenizer.mask_id() < 0) {
    throw Error("the vocabulary has no [MASK] token", o.model_dir, "DiffCSE masks tokens for the generator");
  }
  parts->generator->to(device);
  parts->discriminator =
      model::load_rtd_discriminator(o.discriminator_dir.empty() ? o.model_dir : o.discriminator_dir, o.seed);
  if (parts->discriminator->bert->config().hidden_size != bert.hidden_size) {
    throw Error("the discriminator's hidden size differs from the encoder's", o.discriminator_dir,
                "the sentence embedding conditions the discriminator's first position: use a BERT of the same width");
  }
  parts->discriminator->to(device);
  parts->masking.mask_id = tokenizer.mask_id();
  parts->masking.vocab_size = bert.vocab_size;
  parts->masking.special_ids = {tokenizer.pad_id(), tokenizer.unk_id(), tokenizer.cls_id(), tokenizer.sep_id(),
                                tokenizer.mask_id()};
  parts->seed = o.seed;
  parts->rank = rank;
  return parts;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The run.

int run_training(const TrainOptions& given) {
  given.validate();
  TrainOptions o = given;  // the per-rank batch may be derived on a resume (below)
  auto objective = model::parse_objective(o.objective);
  objective.temperature = o.temperature;
  objective.pos_ratio = o.pos_ratio;
  objective.dcl_weight = o.dcl_weight;
  objective.dcl_temperature = o.dcl_temperature;
  objective.hard_negative_weight = o.hard_negative_weight;
  objective.rtd_weight = o.rtd_weight;
  objective.rtd_mask_ratio = o.rtd_mask_ratio;
  const Inputs inputs = check_inputs(o, objective);

  // Before the bootstrap: a warning that arrives while the ranks start up must not kill them
  // (SIGUSR1's default action); it stops the run at its first step instead.
  install_preemption_handlers();
  auto cluster = cluster::bootstrap_cluster(o.comm, o.device);
  cluster::Communicator& comm = *cluster.comm;
  const int rank = comm.rank();
  const torch::Device device = cluster.device;
  install_preemption_handlers();  // again, in case MPI's start-up replaced them
  // A resume keeps the checkpoint's global batch on any number of ranks (run_directory.h).
  const std::string resume_from = resume_checkpoint(o);
  const StartShape shape = start_shape(o, comm.world_size(), resume_from);
  o.batch_size = shape.batch_size;
  // The other sentences of the global batch are the negatives: with one there are none, the
  // loss is a constant and every gradient is 0 - a run that "trains" and learns nothing.
  if (o.batch_size * comm.world_size() < 2) {
    throw Error("a global batch of " + std::to_string(o.batch_size * comm.world_size()) +
                    " sentence has no in-batch negatives: the contrastive loss is constant and nothing would train",
                "--batch-size", "use --batch-size 2 or more (the paper uses 64 per GPU), or more ranks");
  }
  if (inputs.manifest.total_rows < o.batch_size * comm.world_size()) {
    throw Error("the corpus has " + std::to_string(inputs.manifest.total_rows) + " rows, fewer than one global batch of " +
                    std::to_string(o.batch_size * comm.world_size()) + " (" + std::to_string(o.batch_size) +
                    " per rank x " + std::to_string(comm.world_size()) + " ranks)",
                o.corpus_dir, "use a smaller --batch-size, fewer ranks or a larger corpus");
  }

  // load_hf_model logs what it initialised (the MLP head) and refuses missing encoder weights.
  model::LoadReport model_source;  // what the export carries unchanged (pretrained pooler, heads)
  auto encoder = model::load_hf_model(o.model_dir, &model_source);
  if (o.projector == "batchnorm") {
    encoder->add_projector(o.seed);  // fresh, as the official ProjectionMLP; a resume restores it
    LOG_INFO("projector: DiffCSE's BatchNorm MLP on [CLS] (training only; global batch statistics)");
  }
  encoder->to(device);
  const auto tokenizer = data::WordPieceTokenizer::from_vocab_file(inputs.vocab_path, inputs.manifest.lowercase);
  const auto& dev_pairs = inputs.dev_pairs;

  data::ReaderOptions ro;
  ro.corpus_dir = o.corpus_dir;
  ro.rank = rank;
  ro.world_size = comm.world_size();
  ro.local_batch = o.batch_size;
  ro.seed = o.seed;
  ro.expected_vocab_sha256 = tokenizer.vocab_sha256();
  // On CUDA the prefetch thread packs each batch into pinned memory, copied to the GPU as is.
  if (device.is_cuda()) ro.batch_memory = make_cuda_pinned_host_memory();
  if (!shape.checkpoint.is_null()) {
    // Resharded resume (docs/training.md#resharding): the epoch in progress continues the global
    // order of the layout it was started with from the rows it consumed; with the global batch
    // unchanged, later epochs keep that layout too, so the run sees the uninterrupted run's batches.
    const auto& meta = shape.checkpoint;
    const auto& config = meta.at("config");
    ro.layout_world_size = meta.value("layout_world_size", meta.at("world_size").get<int>());
    ro.layout_local_batch = meta.value("layout_local_batch", int64_t{0});
    if (ro.layout_local_batch <= 0) {  // checkpoints before layout_local_batch: the layout's share of its batch
      ro.layout_local_batch = config.at("batch_size").get<int64_t>() * meta.at("world_size").get<int64_t>() /
                              ro.layout_world_size;
    }
    ro.layout_epoch = meta.at("reader").at("epoch").get<int64_t>();
    ro.layout_base_step = meta.at("reader").at("step_in_epoch").get<int64_t>();
    ro.layout_base_row = meta.value("global_rows_consumed", ro.layout_base_step * ro.layout_local_batch *
                                                                ro.layout_world_size);
    ro.layout_later_epochs = !shape.batch_changed;
    if (ro.layout_world_size != comm.world_size() || ro.layout_local_batch != o.batch_size) {
      LOG_INFO("resuming a checkpoint of " << meta.at("world_size").get<int>() << " rank(s) on " << comm.world_size()
                                           << ": epoch " << ro.layout_epoch << " continues the order of "
                                           << ro.layout_world_size << " rank(s) x " << ro.layout_local_batch
                                           << " rows from row " << ro.layout_base_row
                                           << (ro.layout_later_epochs ? ", and later epochs keep that layout"
                                                                      : "; later epochs use this job's layout"));
    }
  }
  std::optional<data::CorpusReader> reader;
  reader.emplace(ro);
  const int64_t steps_per_epoch = reader->steps_per_epoch() / o.grad_accum;
  if (steps_per_epoch < 1 && o.max_steps == 0) {
    throw Error("the corpus has fewer rows than one global batch", o.corpus_dir,
                "use a smaller --batch-size, fewer ranks or a larger corpus");
  }
  // A changed global batch continues the schedule by update count: the saved run length.
  const int64_t saved_total = shape.checkpoint.is_null() ? 0 : shape.checkpoint.value("total_steps", int64_t{0});
  const int64_t total_steps =
      o.max_steps > 0                          ? o.max_steps
      : shape.batch_changed && saved_total > 0 ? saved_total
                                               : static_cast<int64_t>(std::ceil(o.epochs * static_cast<double>(steps_per_epoch)));
  if (!shape.checkpoint.is_null()) {
    const int64_t unread = reader->rows_left_unread(ro.layout_epoch);
    // Fewer rows than one old global batch are the tail the old run dropped too.
    if (unread >= ro.layout_local_batch * ro.layout_world_size) {
      LOG_WARN("epoch " << ro.layout_epoch << " leaves " << unread
                        << " rows of its order unread: the larger global batch has no whole step left for them");
    }
  }

  // Whose run directory this is, what this start may do there and the checkpoint it resumes
  // from (run_directory.h): decided on every rank from the same files before any training.
  const RunDirectoryPlan plan = plan_run_directory(
      o,
      current_run_identity(o, inputs.bert, (fs::path(o.corpus_dir) / data::kManifestFileName).string(),
                           comm.world_size()),
      total_steps, resume_from);
  comm.barrier();  // every rank has read the directory before rank 0 changes it
  if (rank == 0) apply_run_directory_plan(o.run_dir, plan);
  comm.barrier();
  const RunIdentity identity = read_run_identity(o.run_dir);
  nlohmann::json run_config = o.to_json();
  run_config["run"] = checkpoint_run_record(identity, o.run_dir);

  TrainStepConfig sc;
  sc.objective = objective;
  sc.pooler = model::parse_pooler(o.pooler);
  sc.adamw.lr = o.lr;
  sc.adamw.weight_decay = o.weight_decay;
  sc.warmup_steps = o.warmup_steps;
  sc.total_steps = total_steps;
  sc.grad_clip = o.grad_clip;
  sc.grad_accum = o.grad_accum;
  // A chunk as large as the micro-batch would only add the second forward: chunking is off.
  sc.chunk_size = o.chunk_size < o.batch_size ? o.chunk_size : 0;
  sc.logits_budget = o.logits_budget;
  if (o.chunk_size > 0 && sc.chunk_size == 0) {
    LOG_INFO("--chunk-size " << o.chunk_size << " >= --batch-size " << o.batch_size
                             << ": gradient caching off (the micro-batch is one chunk)");
  } else if (sc.chunk_size > 0) {
    LOG_INFO("gradient caching: micro-batch of " << o.batch_size << " in " << chunk_count(o.batch_size, sc.chunk_size)
                                                 << " chunks of <= " << sc.chunk_size << " sentences");
  }
  sc.bucket_bytes = o.bucket_mb * 1024 * 1024;
  const Precisions precisions = resolve_precisions(o, device.is_cuda());
  sc.mixed_precision = precisions.train_bf16;
  const char* eval_precision_name = precisions.eval_bf16 ? "bf16" : "fp32";
  sc.diagnostics_every = o.diagnostics_every;
  {
    // Chosen before the first encoder call; the log names the kernel torch will really run.
    const auto& bert = encoder->config();
    const auto backend = model::parse_attention_backend(o.attention_backend);
    const int64_t heads = bert.num_attention_heads, head_dim = bert.hidden_size / bert.num_attention_heads;
    const bool dropout = bert.attention_probs_dropout_prob > 0;
    const auto dtype = [](bool bf16) { return bf16 ? torch::kBFloat16 : torch::kFloat; };
    const auto step_kernel = model::configure_attention(backend, device, dtype(precisions.train_bf16), heads, head_dim,
                                                        o.max_len, dropout);
    const auto eval_kernel = model::configure_attention(backend, device, dtype(precisions.eval_bf16), heads, head_dim,
                                                        default_eval_max_len(bert), false);
    LOG_INFO("attention: " << step_kernel << " kernel in the step, " << eval_kernel
                           << " in evaluation (--attention-backend " << o.attention_backend << ")");
  }
  if (objective.rtd) sc.rtd = make_rtd_parts(o, tokenizer, encoder->config(), device, rank);
  TrainStep step(encoder, sc, comm);
  const auto eval_pooler = model::parse_pooler(o.eval_pooler);
  const int64_t eval_max_len = default_eval_max_len(encoder->config());

  // Dropout streams differ per rank; a resume overwrites them with the saved states.
  torch::manual_seed(o.seed + 1000003ULL * static_cast<uint64_t>(rank));
  const std::string ckpt_dir = (fs::path(o.run_dir) / "checkpoints").string();
  TrainProgress progress;
  progress.reader = reader->position();
  if (plan.resume_from != resume_from) throw Error("internal: the plan resumes another checkpoint", resume_from, "report this");
  if (o.resume == "auto" && resume_from.empty()) LOG_INFO("--resume auto: no checkpoint in " << ckpt_dir << ", starting fresh");
  if (!resume_from.empty()) {
    progress = load_training_checkpoint(resume_from, step, comm);
    reader->seek(progress.reader);
    progress.reader = reader->position();  // past a layout epoch a larger global batch has no step left of
    LOG_INFO("resumed from " << resume_from << " at step " << progress.step);
  }
  if (rank == 0) fs::create_directories(o.run_dir);
  comm.barrier();
  RunMetrics run_metrics(o, comm, cluster.topology, device);
  auto& prom = run_metrics.metrics();
  std::vector<std::string> param_names;
  std::vector<torch::Tensor> params;
  for (const auto& p : step.encoder()->named_parameters()) {
    param_names.push_back(p.key());
    params.push_back(p.value());
  }
  if (auto d = step.discriminator()) {  // DiffCSE: the discriminator is replicated the same way
    for (const auto& p : d->named_parameters()) {
      param_names.push_back("discriminator." + p.key());
      params.push_back(p.value());
    }
  }
  cluster::DivergenceCheck divergence(comm, param_names, params, o.check_params_every);
  std::optional<MetricsLog> metrics;
  if (rank == 0) metrics.emplace((fs::path(o.run_dir) / "metrics.jsonl").string());
  if (metrics && resume_from.empty()) metrics->write("config", run_config);
  LOG_INFO("training " << objective.name() << " for " << total_steps << " steps (" << steps_per_epoch
                       << " per epoch), global batch " << o.batch_size * comm.world_size() * o.grad_accum << " on "
                       << device.str() << ", " << comm.world_size() << " rank(s), "
                       << (sc.mixed_precision ? "bf16" : "fp32") << " step, " << eval_precision_name << " evaluation");

  Progress bar(total_steps, o.log_every, rank == 0);
  double last_dev = std::numeric_limits<double>::quiet_NaN();
  double initial_dev = std::numeric_limits<double>::quiet_NaN();
  const auto start = std::chrono::steady_clock::now();
  const double seconds_before = progress.train_seconds;
  const int64_t first_step = progress.step;
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const int64_t kill_after = kill_after_step_for_tests(rank);
  auto batch_rows_log = batch_rows_log_for_tests(rank);
  const int64_t sentences_per_step = o.batch_size * comm.world_size() * o.grad_accum;
  // Model FLOPs of one update on this rank (flop_count.h: padded length, matmuls only).
  const double step_flops =
      static_cast<double>(o.grad_accum) *
      (model::training_step_flops(encoder->config(), objective, o.batch_size, o.max_len,
                                  static_cast<int64_t>(inputs.manifest.columns.size()), sc.pooler) +
       (sc.rtd ? model::rtd_step_flops(sc.rtd->generator->config(), sc.rtd->discriminator->bert->config(),
                                       o.batch_size, o.max_len)
               : 0.0));
  const double device_peak = peak_flops(o, device, sc.mixed_precision);

  // Interval checkpoints are written in the background (async_checkpoint_writer.h): the step
  // waits only for the snapshot. Any other (preempted, final, skipped-steps) is made durable
  // before the run goes on towards its exit.
  AsyncCheckpointWriter background([&prom](const std::string&, double seconds) { prom.record_checkpoint(seconds); });
  auto checkpoint = [&](const char* why) {
    progress.reader = reader->position();
    progress.layout_world_size = reader->layout_world_size(progress.reader.epoch);
    progress.layout_local_batch = reader->layout_local_batch(progress.reader.epoch);
    progress.global_rows_consumed = reader->rows_consumed(progress.reader);
    progress.total_steps = total_steps;
    progress.train_seconds = seconds_before + elapsed();
    const bool in_background = !o.sync_checkpoints && std::string(why) == "interval";
    const auto t0 = std::chrono::steady_clock::now();
    if (!in_background) background.wait();  // one writer of the directory at a time (rotation)
    const auto path = save_training_checkpoint(ckpt_dir, step, comm, progress, run_config, o.keep_checkpoints,
                                               in_background ? &background : nullptr);
    const double blocked = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    prom.record_checkpoint_blocked(blocked);
    if (!in_background) prom.record_checkpoint(blocked);
    if (metrics) {
      metrics->write("checkpoint", {{"step", progress.step},
                                    {"path", path},
                                    {"reason", why},
                                    {"background", in_background},
                                    {"blocked_seconds", blocked}});
    }
    LOG_DEBUG("checkpoint " << path << " (" << why << (in_background ? ", writing in the background" : "") << ")");
  };
  // candidate = false: the starting model's score, reported as "before" but never selected.
  auto evaluate = [&](bool candidate) {
    const auto score = evaluate_sts(step.encoder(), tokenizer, dev_pairs, eval_pooler, eval_max_len, 128, device,
                                    precisions.eval_bf16);
    last_dev = score.spearman_x100;
    prom.record_eval({.step = progress.step,
                      .spearman = score.spearman_x100 / 100.0,
                      .alignment = score.alignment,
                      .uniformity = score.uniformity});
    if (!candidate) {
      initial_dev = score.spearman_x100;
      if (metrics)
        metrics->write("eval", {{"step", progress.step},
                                {"sts_dev_spearman_x100", score.spearman_x100},
                                {"pairs", score.pairs},
                                {"alignment", score.alignment},
                                {"uniformity", score.uniformity},
                                {"precision", eval_precision_name},
                                {"initial", true}});
      bar.break_line();
      LOG_INFO("step " << progress.step << ": STS-B dev Spearman " << score.spearman_x100 << " (before training)");
      return;
    }
    const bool better = std::isfinite(score.spearman_x100) && score.spearman_x100 > progress.best_score;
    if (better) {
      progress.best_score = score.spearman_x100;
      progress.best_step = progress.step;
      if (rank == 0) save_best(step.encoder(), o.run_dir, progress.step, progress.best_score);
    }
    comm.barrier();
    if (metrics) {
      metrics->write("eval", {{"step", progress.step},
                              {"sts_dev_spearman_x100", score.spearman_x100},
                              {"pairs", score.pairs},
                              {"alignment", score.alignment},
                              {"uniformity", score.uniformity},
                              {"precision", eval_precision_name},
                              {"best", better},
                              {"best_score", progress.best_score},
                              {"best_step", progress.best_step}});
    }
    bar.break_line();
    LOG_INFO("step " << progress.step << ": STS-B dev Spearman " << score.spearman_x100 << (better ? " (best)" : ""));
  };

  // One step late: the outputs of update k are read after update k+1 is launched, so a GPU
  // never waits for the host (architecture.md). Decisions (skip abort, stop) follow one step late.
  struct Pending {
    StepOutput out;
    std::vector<int64_t> rows;
    double data_wait_s = 0;  // blocked in reader->next()
    int64_t sentences = 0;   // this rank's sentences (all columns, all micro-batches)
    int64_t tokens = 0;      // this rank's non-padding tokens
    int queue_depth = 0;     // batches the reader had ready when this step asked for its first
    data::ReaderStats reader_io;                  // the reader's I/O counters after this step's batches
    std::chrono::steady_clock::time_point begin;  // before the step asked for its data
  };
  std::optional<Pending> pending;
  data::ReaderStats reported_io;  // what the metrics have counted so far
  // This rank's step time and sentences/s per settled step, until log_rank_timings takes them.
  std::map<int64_t, std::pair<double, double>> rank_samples;
  bool stop = false, abort_skips = false;
  // end: when the next step began (steady state: launches are paced by the device, so the
  // period between two step starts is the step time), or now if none began after this one.
  auto settle = [&](const Pending& p, std::optional<std::chrono::steady_clock::time_point> end = std::nullopt) {
    const StepValues v = p.out.read();
    const double loss = v.loss;
    const bool skipped = v.skipped;
    if (v.stop) stop = true;
    if (skipped) {
      ++progress.skipped_total;
      ++progress.consecutive_skips;
      std::ostringstream rows;
      for (size_t i = 0; i < p.rows.size() && i < 16; ++i) rows << (i ? "," : "") << p.rows[i];
      if (p.rows.size() > 16) rows << ",...";
      bar.break_line();
      LOG_WARN("step " << p.out.update + 1 << ": non-finite loss or gradient, update skipped ("
                       << progress.consecutive_skips << " in a row; batch rows " << rows.str() << ")");
      if (progress.consecutive_skips >= o.max_skipped_steps) abort_skips = true;
    } else {
      progress.consecutive_skips = 0;
    }
    const double t = elapsed();
    const double rate = static_cast<double>((p.out.update + 1 - first_step) * sentences_per_step) / std::max(1e-9, t);
    const double eta = static_cast<double>(total_steps - p.out.update - 1) * sentences_per_step / std::max(1e-9, rate);
    bar.update(p.out.update + 1, loss, rate, eta, last_dev, skipped);
    const PhaseSeconds phases = p.out.phases->seconds();
    monitoring::StepRecord r;
    r.step = p.out.update + 1;
    r.loss = loss;
    r.instance_loss = v.instance;
    r.dcl_loss = v.dcl;
    if (objective.rtd) {
      r.rtd_loss = v.rtd;
      r.rtd_accuracy = v.rtd_accuracy;
    }
    r.learning_rate = p.out.lr;
    r.grad_norm = v.grad_norm;
    r.step_seconds = std::chrono::duration<double>(end.value_or(std::chrono::steady_clock::now()) - p.begin).count();
    rank_samples[r.step] = {r.step_seconds,
                            r.step_seconds > 0 ? static_cast<double>(p.sentences) / r.step_seconds : 0.0};
    r.data_wait_seconds = p.data_wait_s;
    r.forward_seconds = phases.forward;
    r.backward_seconds = phases.backward;
    r.communication_seconds = phases.communication;
    r.optimizer_seconds = phases.optimizer;
    r.sentences = p.sentences;
    r.tokens = p.tokens;
    r.skipped = skipped;
    r.data_queue_depth = p.queue_depth;
    r.data_bytes_read = p.reader_io.bytes_read - reported_io.bytes_read;
    r.data_shards_opened = p.reader_io.shards_opened - reported_io.shards_opened;
    reported_io = p.reader_io;
    r.epoch = static_cast<double>(p.out.update + 1) / std::max<int64_t>(1, steps_per_epoch);
    if (r.step_seconds > 0) {
      r.model_flops_per_second = step_flops / r.step_seconds;
      if (device_peak > 0) r.model_flops_utilization = *r.model_flops_per_second / device_peak;
    }
    if (!v.singular_values.empty() &&
        std::all_of(v.singular_values.begin(), v.singular_values.end(), [](double x) { return std::isfinite(x); })) {
      r.effective_rank = monitoring::effective_rank(v.singular_values);
    }
#if SIMCSEPP_HAVE_CUDA
    if (device.is_cuda()) {
      const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
      constexpr size_t kAggregate = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
      r.gpu_memory_used_bytes = static_cast<double>(stats.allocated_bytes[kAggregate].current);
      r.gpu_memory_reserved_bytes = static_cast<double>(stats.reserved_bytes[kAggregate].current);
    }
#endif
    if (metrics) {
      auto optional = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
      metrics->write("step", {{"step", r.step},
                              {"loss", loss},
                              {"instance_loss", *r.instance_loss},
                              {"dcl_loss", *r.dcl_loss},
                              {"grad_norm", *r.grad_norm},
                              {"lr", r.learning_rate},
                              {"skipped", skipped},
                              {"sentences_per_s", rate},
                              {"step_s", r.step_seconds},
                              {"data_wait_s", r.data_wait_seconds},
                              {"forward_s", r.forward_seconds},
                              {"backward_s", r.backward_seconds},
                              {"communication_s", r.communication_seconds},
                              {"optimizer_s", r.optimizer_seconds},
                              {"data_queue_depth", p.queue_depth},
                              {"tokens", r.tokens},
                              {"model_flops_per_s", optional(r.model_flops_per_second)},
                              {"mfu", optional(r.model_flops_utilization)},
                              {"effective_rank", optional(r.effective_rank)},
                              {"gpu_memory_used_bytes", optional(r.gpu_memory_used_bytes)},
                              {"rtd_loss", optional(r.rtd_loss)},
                              {"rtd_accuracy", optional(r.rtd_accuracy)}});
    }
    prom.record_step(r);
  };

  // Every rank's step time and sentences/s of step `s` into rank 0's metrics.jsonl as a "ranks"
  // line (rank_timings.h), so the report shows stragglers. Collective: called by every rank at the
  // same points of the loop, for a step every rank has settled.
  auto log_rank_timings = [&](int64_t s) {
    const auto it = rank_samples.find(s);
    SIMCSEPP_CHECK(it != rank_samples.end(), "step " + std::to_string(s) + " gathered before it was settled");
    const RankTimings t = gather_rank_timings(comm, device, it->second.first, it->second.second);
    rank_samples.erase(rank_samples.begin(), std::next(it));
    if (metrics) {
      metrics->write("ranks", {{"step", s}, {"step_s", t.step_seconds}, {"sentences_per_s", t.sentences_per_s}});
    }
  };

  if (progress.step == 0 && o.eval_at_start) evaluate(false);
  while (progress.step < total_steps && !stop && !abort_skips) {
    std::vector<std::vector<data::TokenBatch>> micro;
    std::vector<data::PackedTokens> packed;  // on CUDA: the same tokens in pinned blocks
    Pending next;
    next.queue_depth = reader->queue_depth();
    next.begin = std::chrono::steady_clock::now();
    for (int64_t a = 0; a < o.grad_accum; ++a) {
      auto batch = reader->next();
      next.rows.insert(next.rows.end(), batch.global_rows.begin(), batch.global_rows.end());
      if (batch_rows_log) {
        *batch_rows_log << progress.step + 1 << ' ' << a << ' ' << batch.position.epoch << ' '
                        << batch.position.step_in_epoch;
        for (const int64_t r : batch.global_rows) *batch_rows_log << ' ' << r;
        *batch_rows_log << std::endl;  // flushed: a killed rank's lines are all there
      }
      for (const auto& c : batch.columns) {
        next.sentences += c.rows;
        for (const int64_t m : c.attention_mask) next.tokens += m;
      }
      micro.push_back(std::move(batch.columns));
      if (batch.packed.data) packed.push_back(std::move(batch.packed));
    }
    next.data_wait_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - next.begin).count();
    next.reader_io = reader->stats();
    if (preemption_requested()) step.request_stop();
    next.out = step.step(micro, packed);
    divergence.after_update(next.out.update);
    ++progress.step;
    if (pending) settle(*pending, next.begin);
    pending = std::move(next);
    // The previous step is settled on every rank by now (just above, or early for an evaluation,
    // a checkpoint or a test hold), so every rank gathers its timings here.
    if (const int64_t logged = progress.step - 1; logged > first_step && logged % o.log_every == 0) {
      log_rank_timings(logged);
    }
    const bool eval_now = o.eval_every > 0 && progress.step % o.eval_every == 0 && progress.step < total_steps;
    const bool ckpt_now = o.checkpoint_every > 0 ? progress.step % o.checkpoint_every == 0 : eval_now;
    if (eval_now || ckpt_now) {
      settle(*pending);
      pending.reset();
    }
    if (eval_now) evaluate(true);
    if (ckpt_now && progress.step < total_steps) checkpoint("interval");
    if (progress.step == kill_after) {
      settle(*pending);  // the metrics line of this step is written, as a crash after it would
      background.wait();  // and a checkpoint of this step is on disk: the tests resume from it
      // SIMCSEPP_TEST_KILL_EXIT_CODE=N: exit N instead (a rank that fails, rather than dies).
      if (const char* code = std::getenv("SIMCSEPP_TEST_KILL_EXIT_CODE"); code && *code) std::_Exit(std::atoi(code));
      std::raise(SIGKILL);
    }
    if (hold_requested_for_tests(std::to_string(progress.step), rank)) {
      if (pending) {
        settle(*pending);
        pending.reset();
      }
      hold_for_tests(std::to_string(progress.step), rank);
    }
  }
  if (pending) settle(*pending);
  if (progress.step > first_step) log_rank_timings(progress.step);  // the last step of this job
  if (!stop && !abort_skips && progress.step < total_steps) stop = true;  // settle() saw the flag late

  if (abort_skips) {
    checkpoint("skipped-steps");
    bar.break_line();
    throw Error(std::to_string(progress.consecutive_skips) +
                    " consecutive updates skipped (non-finite loss or gradient) at step " +
                    std::to_string(progress.step) + "; the last good state is checkpointed in " + ckpt_dir,
                "--max-skipped-steps", "lower --lr, set --grad-clip 1.0, or check the batch rows logged above");
  }
  if (stop && progress.step < total_steps) {
    checkpoint("preempted");
    bar.break_line();
    LOG_WARN("preempted (signal " << preemption_signal() << ") at step " << progress.step
                                  << ": checkpoint written; requeue with --resume auto");
    if (metrics) metrics->write("preempted", {{"step", progress.step}});
    if (rank == 0) write_preempted_marker(o.run_dir, progress.step, preemption_signal());
    // No rank exits before the marker exists: mpirun kills the others once the first one is gone.
    comm.barrier();
    return cli::kExitPreempted;
  }

  evaluate(true);
  checkpoint("final");
  if (progress.best_step < 0) {
    // No evaluation of this run ever gave a finite score: there is no best model to export,
    // and exit 0 would pass for success. The final checkpoint above is kept for inspection.
    bar.break_line();
    if (metrics) metrics->write("failed", {{"step", progress.step}, {"reason", "no finite STS-B dev score"}});
    throw Error("no STS-B dev evaluation of this run gave a finite score (last: " + std::to_string(last_dev) +
                    "): the model diverged (NaN/inf weights, e.g. from too high a learning rate) or the dev "
                    "scores are degenerate; nothing is exported, the last state is checkpointed in " + ckpt_dir,
                o.run_dir, "lower --lr, set --grad-clip 1.0, and check --sts-dev; the checkpoint holds the last weights");
  }
  const double train_seconds = seconds_before + elapsed();
  nlohmann::json summary = {{"steps", progress.step},
                            {"best_step", progress.best_step},
                            {"best_sts_dev_spearman_x100", progress.best_score},
                            {"initial_sts_dev_spearman_x100", initial_dev},
                            {"skipped_steps", progress.skipped_total},
                            {"train_seconds", train_seconds},
                            {"sentences_per_s", static_cast<double>((progress.step - first_step) * sentences_per_step) /
                                                    std::max(1e-9, elapsed())},
                            {"objective", objective.name()}};
  if (rank == 0 && o.export_model && progress.best_step >= 0) {
    auto best = model::load_hf_model((fs::path(o.run_dir) / "best").string());
    const auto out_dir = (fs::path(o.run_dir) / "model").string();
    model::export_hf_model(best, inputs.vocab_path, eval_pooler, out_dir, &model_source,
                           /*mlp_trained=*/sc.pooler == model::Pooler::kCls && o.projector == "mlp");
    ModelCardFacts card;
    card.base_model_dir = o.model_dir;
    card.pooler = o.eval_pooler;
    card.objective = o.objective;
    card.recipe = {{"global batch (sentences per update)", sentences_per_step},
                   {"learning rate", o.lr},
                   {"max length (tokens)", o.max_len},
                   {"temperature", o.temperature},
                   {"training pooler", o.pooler},
                   {"seed", o.seed},
                   {"ranks", comm.world_size()},
                   {"objective terms", objective.name()}};
    if (objective.dcl) card.recipe["DCL weight"] = o.dcl_weight;
    if (o.projector != "mlp") card.recipe["projector"] = o.projector;
    if (objective.rtd) {
      card.recipe["RTD weight"] = o.rtd_weight;
      card.recipe["RTD mask ratio"] = o.rtd_mask_ratio;
      card.recipe["RTD generator"] = fs::path(o.generator_dir).filename().string();
    }
    card.corpus = o.corpus_dir;
    card.corpus_rows = inputs.manifest.total_rows;
    card.steps = progress.step;
    card.best_step = progress.best_step;
    card.best_dev_spearman_x100 = progress.best_score;
    card.initial_dev_spearman_x100 = initial_dev;
    write_model_card(out_dir, card);
    summary["exported_model"] = out_dir;
  }
  comm.barrier();
  hold_for_tests("end", rank);
  if (metrics) {
    metrics->write("summary", summary);
    std::ofstream(fs::path(o.run_dir) / "summary.json") << summary.dump(2) << "\n";
    // report.html from the files just written (report/run_report.h); failing to draw it does not
    // turn a finished run into a failed one: `simcsepp report RUN_DIR` can write it later.
    const std::string report_path = report::default_report_path(o.run_dir);
    try {
      report::write_run_report(o.run_dir, report_path);
      LOG_INFO("report: " << report_path);
    } catch (const std::exception& e) {
      LOG_WARN("report.html not written: " << e.what() << "; `simcsepp report " << o.run_dir << "` writes it later");
    }
  }
  run_metrics.close();
  bar.break_line();
  LOG_INFO("done: " << progress.step << " steps in " << format_duration(train_seconds) << ", best STS-B dev "
                    << progress.best_score << " at step " << progress.best_step << ", "
                    << static_cast<int64_t>(summary["sentences_per_s"].get<double>()) << " sentences/s");
  return cli::kExitOk;
}

}  // namespace simcsepp::trainer
