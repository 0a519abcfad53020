// train_command.cpp - `simcsepp train`: binds every TrainOptions field to an option whose
// default is the paper's recipe (method.md 6) and runs trainer::run_training.
#include "cli/command.h"
#include "cli/output_paths.h"
#include "trainer/training_run.h"

namespace simcsepp::cli {

namespace {

class TrainCommand final : public Command {
 public:
  std::string name() const override { return "train"; }
  std::string summary() const override { return "train a sentence encoder with SimCSE / SimCSE++"; }

  void add_options(po::options_description& o) override {
    auto& c = c_;
    o.add_options()("model", po::value(&c.model_dir)->required(),
                    "Hugging Face BERT directory (config.json, weights, vocab.txt)")(
        "corpus", po::value(&c.corpus_dir)->required(), "corpus directory written by `simcsepp prep`")(
        "run-dir", po::value(&c.run_dir)->required(), "output: checkpoints/, best/, model/, metrics.jsonl")(
        "objective", po::value(&c.objective)->default_value(c.objective),
        "simcse | off-dropout | dcl | simcse++ (= off-dropout+dcl) | supervised, or '+'-joined, e.g. supervised+dcl")(
        "batch-size", po::value(&c.batch_size)->default_value(c.batch_size), "sentences per rank per micro-batch")(
        "max-len", po::value(&c.max_len)->default_value(c.max_len), "tokens per sentence (must match the corpus)")(
        "lr", po::value(&c.lr)->default_value(c.lr), "peak learning rate (linear decay)")(
        "weight-decay", po::value(&c.weight_decay)->default_value(c.weight_decay), "AdamW decoupled weight decay")(
        "warmup-steps", po::value(&c.warmup_steps)->default_value(c.warmup_steps), "linear warmup steps")(
        "max-steps", po::value(&c.max_steps)->default_value(c.max_steps), "updates to run; 0 = --epochs decides")(
        "epochs", po::value(&c.epochs)->default_value(c.epochs), "passes over the corpus (when --max-steps is 0)")(
        "temperature", po::value(&c.temperature)->default_value(c.temperature), "tau of the instance loss")(
        "pos-ratio", po::value(&c.pos_ratio)->default_value(c.pos_ratio), "m: positive-logit scale (off-dropout)")(
        "dcl-weight", po::value(&c.dcl_weight)->default_value(c.dcl_weight), "lambda of DCL")(
        "dcl-temperature", po::value(&c.dcl_temperature)->default_value(c.dcl_temperature), "tau_d of DCL")(
        "hard-negative-weight", po::value(&c.hard_negative_weight)->default_value(c.hard_negative_weight),
        "w multiplying exp(s) of hard negatives (supervised)")(
        "projector", po::value(&c.projector)->default_value(c.projector),
        "training head on [CLS] with pooler cls: mlp (SimCSE's Linear + tanh) | batchnorm (DiffCSE's BatchNorm "
        "projector, global batch statistics; the official DiffCSE BERT recipe)")(
        "generator", po::value(&c.generator_dir)->default_value(c.generator_dir),
        "DiffCSE: Hugging Face masked-LM directory (BertForMaskedLM or DistilBertForMaskedLM; the paper uses "
        "distilbert-base-uncased), frozen, never exported")(
        "discriminator", po::value(&c.discriminator_dir)->default_value(c.discriminator_dir),
        "DiffCSE: BERT directory the discriminator starts from (default: --model, as the official code)")(
        "rtd-weight", po::value(&c.rtd_weight)->default_value(c.rtd_weight),
        "DiffCSE: lambda of the replaced-token-detection loss")(
        "rtd-mask-ratio", po::value(&c.rtd_mask_ratio)->default_value(c.rtd_mask_ratio),
        "DiffCSE: share of tokens masked for the generator")(
        "grad-clip", po::value(&c.grad_clip)->default_value(c.grad_clip), "max global gradient norm; 0 = off")(
        "grad-accum", po::value(&c.grad_accum)->default_value(c.grad_accum), "micro-batches per update")(
        "chunk-size", po::value(&c.chunk_size)->default_value(c.chunk_size),
        "gradient caching: encode each micro-batch in chunks of this many sentences (exact, bounded "
        "activation memory, one extra forward); 0 = off")(
        "logits-budget", po::value(&c.logits_budget)->default_value(c.logits_budget),
        "with --chunk-size: above this many instance-loss logits per rank (batch x global batch) the loss "
        "and its gradient run in row blocks of at most this many; 0 = always dense")(
        "eval-every", po::value(&c.eval_every)->default_value(c.eval_every),
        "STS-B dev evaluation interval; 0 = end only")("sts-dev", po::value(&c.sts_dev)->default_value(c.sts_dev),
                                                       "STS-B dev CSV (STSBenchmark/sts-dev.csv)")(
        "pooler", po::value(&c.pooler)->default_value(c.pooler),
        "training pooler: cls | cls_before_pooler | avg | avg_first_last")(
        "eval-pooler", po::value(&c.eval_pooler)->default_value(c.eval_pooler), "pooler for evaluation and export")(
        "seed", po::value(&c.seed)->default_value(c.seed), "data order and dropout seed")(
        "checkpoint-every", po::value(&c.checkpoint_every)->default_value(c.checkpoint_every),
        "checkpoint interval in steps; 0 = at every evaluation")(
        "keep-checkpoints", po::value(&c.keep_checkpoints)->default_value(c.keep_checkpoints),
        "newest checkpoints kept")("resume", po::value(&c.resume)->default_value(c.resume),
                                   "none | auto (newest valid in run-dir) | checkpoint file")(
        "sync-checkpoints", po::bool_switch(&c.sync_checkpoints),
        "write interval checkpoints while the step waits (default: snapshot at the step boundary, then write "
        "in the background; preemption and the end always wait for the file)")(
        "overwrite", po::bool_switch(&c.overwrite),
        "start afresh in a run directory that holds another run: remove its checkpoints, best/, model/ and "
        "metrics first")(
        "allow-batch-change", po::bool_switch(&c.allow_batch_change),
        "a resume may change the global batch (--batch-size x --grad-accum x ranks): the schedule continues by "
        "update count, the epoch in progress from the rows it consumed (default: the checkpoint's global batch "
        "is kept, the per-rank batch derived from it)")(
        "max-skipped-steps", po::value(&c.max_skipped_steps)->default_value(c.max_skipped_steps),
        "abort after this many consecutive non-finite steps")("device", po::value(&c.device)->default_value(c.device),
                                                              "auto | cpu | cuda")(
        "comm", po::value(&c.comm)->default_value(c.comm), "auto | mpi | nccl | single")(
        "precision", po::value(&c.precision)->default_value(c.precision),
        "step precision: auto (bf16 autocast on a GPU, fp32 on a CPU) | bf16 | fp32 (fp32 on a GPU: to debug)")(
        "attention-backend", po::value(&c.attention_backend)->default_value(c.attention_backend),
        "attention kernel: auto (GPU: memory-efficient, math fallback; cuDNN off, pytorch issue 196678) | "
        "efficient | flash | cudnn | math (only that one)")(
        "eval-precision", po::value(&c.eval_precision)->default_value(c.eval_precision),
        "STS-B dev evaluation (best-checkpoint choice): fp32 (as `simcsepp eval`) | bf16 (as `eval --bf16`)")(
        "log-every", po::value(&c.log_every)->default_value(c.log_every), "progress line interval without a TTY")(
        "no-export", po::bool_switch()->notifier([&c](bool v) { c.export_model = !v; }),
        "do not export the best model to <run-dir>/model at the end")(
        "no-eval-at-start", po::bool_switch()->notifier([&c](bool v) { c.eval_at_start = !v; }),
        "skip the STS-B dev score of the starting model")(
        "bucket-mb", po::value(&c.bucket_mb)->default_value(c.bucket_mb),
        "gradient all-reduce bucket size in MiB (buckets launch during backward)")(
        "grad-comm-dtype", po::value(&c.grad_comm_dtype)->default_value(c.grad_comm_dtype),
        "fp32 | bf16: the dtype gradients are all-reduced in (bf16 halves the bytes on NCCL; master "
        "weights, moments and the averaged gradient the optimizer reads stay fp32)")(
        "cuda-graphs", po::value(&c.cuda_graphs)->default_value(c.cuda_graphs),
        "on | off: capture the update into a CUDA graph after 3 eager updates and replay it (one "
        "GPU; where it cannot, e.g. on CPU, the step stays eager and the log says why)")(
        "off-dropout-call", po::value(&c.off_dropout_call)->default_value(c.off_dropout_call),
        "separate | fused: encode the off-dropout negatives in their own call, or in one call with the "
        "dropout-on sequences (dropout on its leading rows only; same views, fewer and larger kernels)")(
        "check-params-every", po::value(&c.check_params_every)->default_value(c.check_params_every),
        "every K updates compare a parameter checksum across ranks and abort on divergence; 0 = off")(
        "metrics", po::value(&c.metrics)->default_value(c.metrics), "serve Prometheus /metrics on every rank")(
        "metrics-bind", po::value(&c.metrics_bind)->default_value(c.metrics_bind),
        "bind address of /metrics (0.0.0.0 to be scraped from another host)")(
        "metrics-port", po::value(&c.metrics_port)->default_value(c.metrics_port),
        "base port of /metrics: the rank with local rank L serves base + L; 0 = any free port")(
        "run-id", po::value(&c.run_id)->default_value(c.run_id),
        "run_id label of the metrics; default: slurm-$SLURM_JOB_ID or the run directory's name")(
        "diagnostics-every", po::value(&c.diagnostics_every)->default_value(c.diagnostics_every),
        "every K updates export the effective rank of the batch embedding matrix (one small SVD); 0 = off")(
        "peak-tflops", po::value(&c.peak_tflops)->default_value(c.peak_tflops),
        "peak dense TFLOP/s of one device for model FLOP utilisation; 0 = known GPUs by name, else no MFU");
  }

  void validate(const po::variables_map&) override {
    c_.validate();
    // Checked on every rank before any model is loaded: a run directory on a node-local or
    // read-only path fails here, naming the rank, not at the first checkpoint.
    require_output_directory(c_.run_dir, "--run-dir");
  }
  int run() override { return trainer::run_training(c_); }

 private:
  trainer::TrainOptions c_;
};

}  // namespace

std::unique_ptr<Command> make_train_command() { return std::make_unique<TrainCommand>(); }

}  // namespace simcsepp::cli
