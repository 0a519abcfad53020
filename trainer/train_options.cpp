// train_options.cpp - see train_options.h.
#include "trainer/train_options.h"

#include <arpa/inet.h>

#include <cmath>
#include <filesystem>

#include "base/error.h"
#include "model/attention_backend.h"
#include "model/bert_config.h"

namespace simcsepp::trainer {

namespace fs = std::filesystem;

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
  need(grad_comm_dtype == "fp32" || grad_comm_dtype == "bf16", "unknown gradient dtype '" + grad_comm_dtype + "'",
       "--grad-comm-dtype", "use fp32 (the default) or bf16 (half the all-reduce bytes)");
  need(cuda_graphs == "on" || cuda_graphs == "off", "unknown value '" + cuda_graphs + "'", "--cuda-graphs",
       "use off (the default, the eager step) or on (capture the update into a CUDA graph)");
  need(off_dropout_call == "separate" || off_dropout_call == "fused", "unknown value '" + off_dropout_call + "'",
       "--off-dropout-call", "use separate (the default: two encoder calls) or fused (one call, dropout on its leading rows)");
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
  const auto objective_cfg = objective_config();
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
          {"grad_comm_dtype", grad_comm_dtype},
          {"cuda_graphs", cuda_graphs},
          {"off_dropout_call", off_dropout_call},
          {"check_params_every", check_params_every},
          {"diagnostics_every", diagnostics_every},
          {"peak_tflops", peak_tflops},
          {"precision", precision},
          {"eval_precision", eval_precision},
          {"attention_backend", attention_backend}};
}

model::ObjectiveConfig TrainOptions::objective_config() const {
  auto c = model::parse_objective(objective);
  c.temperature = temperature;
  c.pos_ratio = pos_ratio;
  c.dcl_weight = dcl_weight;
  c.dcl_temperature = dcl_temperature;
  c.hard_negative_weight = hard_negative_weight;
  c.rtd_weight = rtd_weight;
  c.rtd_mask_ratio = rtd_mask_ratio;
  return c;
}

Precisions resolve_precisions(const TrainOptions& o, bool cuda_device) {
  return {.train_bf16 = o.precision == "bf16" || (o.precision == "auto" && cuda_device),
          .eval_bf16 = o.eval_precision == "bf16"};
}

}  // namespace simcsepp::trainer
