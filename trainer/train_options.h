// train_options.h - every option of `simcsepp train` (cli/train_command.cpp maps the command line
// and config files onto it), the checks that need no file, and what they resolve to.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "model/objective_config.h"

namespace simcsepp::trainer {

struct TrainOptions {
  std::string model_dir;
  std::string corpus_dir;
  std::string run_dir;
  std::string objective = "simcse++";
  int64_t batch_size = 64;  // per rank
  int64_t max_len = 32;
  double lr = 3e-5;
  double weight_decay = 0.0;
  int64_t warmup_steps = 0;
  int64_t max_steps = 0;  // 0: epochs * steps per epoch
  double epochs = 1.0;
  double temperature = 0.05;
  double pos_ratio = 1.0;
  double dcl_weight = 0.1;
  double dcl_temperature = 5.0;
  double hard_negative_weight = 1.0;
  // DiffCSE (--objective diffcse / diffcse++): the frozen generator, where the discriminator
  // starts (empty: --model), lambda and the masking ratio (the paper's BERT-base values).
  // "mlp" (SimCSE's Linear + tanh head) or "batchnorm" (DiffCSE's BatchNorm projector, training
  // pooler cls only; evaluation and export use [CLS] before any head).
  std::string projector = "mlp";
  std::string generator_dir;
  std::string discriminator_dir;
  double rtd_weight = 0.005;
  double rtd_mask_ratio = 0.3;
  double grad_clip = 0.0;
  int64_t grad_accum = 1;
  int64_t chunk_size = 0;  // gradient caching: sentences per encoder chunk; 0 = off (train_step.h)
  int64_t logits_budget = int64_t{1} << 26;  // with chunk_size: blockwise instance loss above it; 0 = never
  int64_t eval_every = 125;  // 0: only at the end
  std::string sts_dev = "../shared/data/sts/STSBenchmark/sts-dev.csv";
  std::string pooler = "cls";
  std::string eval_pooler = "cls_before_pooler";
  uint64_t seed = 42;
  int64_t checkpoint_every = 0;  // 0: at every evaluation
  int keep_checkpoints = 3;
  bool sync_checkpoints = false;  // interval checkpoints block the step for the whole write (else: snapshot only)
  std::string resume = "none";  // none | auto | PATH
  bool overwrite = false;       // a fresh start may remove another run's files in run_dir
  bool allow_batch_change = false;  // a resume may change the global batch (else it is kept exactly)
  int64_t max_skipped_steps = 10;
  std::string device = "auto";
  std::string comm = "auto";
  int64_t log_every = 10;  // plain progress lines (non-TTY)
  bool export_model = true;
  bool eval_at_start = true;         // score the starting model on STS-B dev ("before"; never selected as best)
  int64_t bucket_mb = 25;            // gradient all-reduce bucket size (MiB)
  std::string grad_comm_dtype = "fp32";  // fp32 | bf16: what the gradient all-reduce moves
  std::string cuda_graphs = "off";       // on | off: capture the update into a CUDA graph (cuda_graph_update.h)
  std::string off_dropout_call = "separate";  // separate | fused: the dropout-off sequences' encoder call
  int64_t check_params_every = 100;  // compare a parameter checksum across ranks; 0 = off
  bool metrics = true;               // serve Prometheus /metrics on every rank
  std::string metrics_bind = "127.0.0.1";
  int metrics_port = 9400;  // rank with local rank L serves metrics_port + L
  std::string run_id;       // metrics label; default: $SLURM_JOB_ID or the run directory's name
  int64_t diagnostics_every = 50;  // effective rank of the batch embeddings every K updates; 0 = off
  double peak_tflops = 0;          // per device, for MFU; 0 = from the GPU's name (unknown: no MFU)
  std::string precision = "auto";  // step: auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32
  std::string attention_backend = "auto";  // model/attention_backend.h: auto | efficient | flash | cudnn | math
  std::string eval_precision = "fp32";  // STS-B dev evaluation: fp32 (as `simcsepp eval`) | bf16

  // Rejects nonsense values (naming the option, with a HINT) before any work starts.
  void validate() const;
  nlohmann::json to_json() const;
  // --objective with its temperatures and weights (validated by validate()).
  model::ObjectiveConfig objective_config() const;
};

// --precision and --eval-precision on a device (CUDA or not): whether the step and the STS-B
// dev evaluation run under bf16 autocast. Call after validate().
struct Precisions {
  bool train_bf16 = false;
  bool eval_bf16 = false;
};
Precisions resolve_precisions(const TrainOptions& options, bool cuda_device);

}  // namespace simcsepp::trainer
