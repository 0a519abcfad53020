// train_step.h - one optimizer update of SimCSE++ training: forward passes, loss, backward,
// gradient averaging over ranks, clipping, non-finite guard, AdamW, linear schedule.
//
// Per update: reducer.zero_grad(); for each of grad_accum micro-batches: the objective's encoder
// calls + loss, backward of loss / grad_accum; reducer.reduce() (gradient average over ranks);
// global grad norm; optional clipping; one tiny all_reduce(kMax) of [non-finite, stop request]
// so every rank skips (or stops) together; fused AdamW that leaves everything unchanged when the
// non-finite flag is set.
//
// Gradient caching (chunk_size > 0, chunked_forward_backward.h): each micro-batch is encoded in
// chunks of chunk_size sentences twice (without, then with autograd) and its loss and loss
// gradient are computed once over the whole micro-batch, so the update is the unchunked one
// (same loss, same gradient up to rounding, bit-identical for chunk_size >= rows) with the
// activation memory of one chunk. The reducer is told the number of backward passes (one per
// chunk) so its buckets are still all-reduced once per update, overlapping the last chunk's
// backward.
//
// A PhaseClock (phase_clock.h) times forward, backward, communication (reduce()) and optimizer
// (norm, flag all-reduce, clipping, AdamW); StepOutput carries it to be read one step late.
//
// GPU rules (architecture.md): shapes are static (batches are padded to max_len by the reader),
// tokens reach the GPU through pinned staging buffers and a copy stream (batch_stager.h), and
// nothing in step() reads a device value on the host; StepOutput holds device scalars the caller
// reads one step late. Threading: the training thread only.
//
// step() = stage the tokens, run_update(), publish(). run_update() is the capturable part: from
// the device tokens to the optimizer step it is device work only - no host read, no host value
// that changes between updates (the learning rate comes from a device update counter, the stop
// request from a persistent device flag, the loss and flags go into one persistent buffer of
// step scalars) - so --cuda-graphs (cuda_graph_update.h) records it once and replays it.
// publish() (outside any graph) snapshots the scalars, runs the diagnostics and queues the host
// copies.
#pragma once

#include <c10/core/Event.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cluster/communicator.h"
#include "cluster/gradient_reducer.h"
#include "data/token_batch.h"
#include "model/bert_config.h"
#include "model/objective_config.h"
#include "model/rtd_loss.h"
#include "model/sentence_encoder.h"
#include "trainer/adamw.h"
#include "trainer/batch_stager.h"
#include "trainer/lr_schedule.h"
#include "trainer/phase_clock.h"

namespace simcsepp::trainer {

// DiffCSE (objective.rtd): the frozen generator, the trained discriminator and the masking rule.
// The discriminator's parameters are trained, all-reduced and clipped with the encoder's.
struct RtdParts {
  model::MlmGenerator generator{nullptr};
  model::RtdDiscriminator discriminator{nullptr};
  model::RtdMaskingOptions masking;
  uint64_t seed = 42;  // the masks of update u, micro-batch m on rank r: a CPU generator seeded from these
  int rank = 0;
};

struct TrainStepConfig {
  model::ObjectiveConfig objective;
  std::shared_ptr<RtdParts> rtd;  // set when objective.rtd
  model::Pooler pooler = model::Pooler::kCls;
  AdamWConfig adamw;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;  // of the linear decay
  double grad_clip = 0.0;   // max global L2 norm; 0 = off
  int64_t grad_accum = 1;
  // Gradient caching: sentences per encoder chunk (the last chunk of a micro-batch may be
  // shorter); 0 = off (every micro-batch in one piece).
  int64_t chunk_size = 0;
  // With chunk_size: above this many instance-loss logits per rank (N x W*N, twice that with
  // hard negatives) the loss and its gradient run in row blocks of at most this many (model/
  // objective_backward.h); 0 = always dense.
  int64_t logits_budget = int64_t{1} << 26;
  int64_t bucket_bytes = 25 * 1024 * 1024;  // gradient all-reduce bucket size
  bool bf16_grad_comm = false;              // all-reduce the fp32 gradients as bf16 (gradient_reducer.h)
  // bf16 autocast of the encoder calls, one region per micro-batch forward (model/autocast_scope.h);
  // CUDA, or CPU autocast where asked for (tests, --precision bf16). Losses stay fp32.
  bool mixed_precision = false;
  // Every this many updates, StepOutput::singular_values of the batch embedding matrix (for
  // the effective-rank metric; on CUDA the SVD may synchronise once); 0 = never.
  int64_t diagnostics_every = 0;
  // --cuda-graphs: capture run_update() into a CUDA graph after `cuda_graph_warmup` eager
  // updates and replay it (cuda_graph_update.h). Where cuda_graph_blocker() names a reason the
  // step stays eager (TrainStep::cuda_graph_fallback() says why; the run logs it).
  bool cuda_graphs = false;
  int64_t cuda_graph_warmup = 3;
  // --off-dropout-call fused: the dropout-on and dropout-off sequences in one encoder call
  // (model/objective_forward.h); the unchunked step only (gradient caching keeps its calls).
  bool fuse_off_dropout = false;
};

// The device tokens of one update: ids[m][c], masks[m][c] = column c of micro-batch m, [rows, max_len] int64.
struct UpdateInputs {
  std::vector<std::vector<torch::Tensor>> ids, masks;
};

class CapturedUpdate;

// Host values of one update (StepOutput::read()).
struct StepValues {
  double loss = 0, instance = 0, dcl = 0, grad_norm = 0;
  double rtd = 0, rtd_accuracy = 0;  // DiffCSE's RTD loss (unweighted) and accuracy; 0 without
  bool skipped = false, stop = false;
  std::vector<double> singular_values;  // empty unless diagnostics ran
};

// Device scalars of one update (read them after the next step is launched). They are this
// update's own (a snapshot of the step's persistent scalars), whatever later updates write.
struct StepOutput {
  torch::Tensor loss;       // mean over micro-batches of the local total loss
  torch::Tensor instance;   // its contrastive part
  torch::Tensor dcl;        // its DCL part (unweighted)
  torch::Tensor rtd;        // its RTD part (unweighted; zero without DiffCSE)
  torch::Tensor rtd_accuracy;
  torch::Tensor grad_norm;  // global L2 norm of the averaged gradient, before clipping
  torch::Tensor skipped;    // 1 if the update was skipped (non-finite on any rank)
  torch::Tensor stop;       // 1 if any rank asked to stop (preemption)
  double lr = 0.0;          // learning rate used by this update
  int64_t update = 0;       // 0-based index of this update
  std::shared_ptr<PhaseClock> phases;  // forward/backward/communication/optimizer time
  // Singular values of this rank's anchor embeddings [N, d] (dropout-on view) of the last
  // micro-batch, on the device; undefined unless diagnostics ran this update.
  torch::Tensor singular_values;

  // The values on the host. On CUDA this waits for this update's own kernels only: step()
  // queued a copy into pinned memory and an event right after them, so reading update k once
  // update k+1 is queued does not wait for k+1 (an .item() on the device tensors would, being
  // ordered after k+1 on the stream). On CPU it just reads.
  StepValues read() const;
  torch::Tensor host_scalars;         // [8] loss, instance, dcl, grad_norm, skipped, stop, rtd, rtd_accuracy
  torch::Tensor host_singular_values;  // copy of singular_values
  std::shared_ptr<c10::Event> ready;  // CUDA: recorded after the copies; null on CPU
};

class TrainStep {
 public:
  TrainStep(model::SentenceEncoder encoder, TrainStepConfig config, cluster::Communicator& comm);
  ~TrainStep();

  // micro_batches.size() == grad_accum; each is the columns of one micro-batch (local rows).
  // `packed`: empty, or the same micro-batches packed into pinned blocks by the reader
  // (data::PackedTokens), copied to the device without a host copy (batch_stager.h).
  StepOutput step(const std::vector<std::vector<data::TokenBatch>>& micro_batches,
                  const std::vector<data::PackedTokens>& packed = {});

  // Ask every rank to stop after the current update (e.g. a signal arrived on this rank). The
  // next step() sets the persistent device flag its update all-reduces (kMax) with the others'.
  void request_stop() { stop_requested_ = true; }

  int64_t updates() const { return updates_; }
  void set_updates(int64_t updates);
  AdamW& optimizer() { return *optimizer_; }
  model::SentenceEncoder& encoder() { return encoder_; }
  // DiffCSE's discriminator (null module without RTD): checkpointed with the encoder.
  model::RtdDiscriminator discriminator() const { return config_.rtd ? config_.rtd->discriminator : model::RtdDiscriminator(nullptr); }
  const TrainStepConfig& config() const { return config_; }
  torch::Device device() const { return device_; }
  // The flat gradient buffers (one per dtype) after step(): the update's rank-averaged (and
  // clipped) gradient; for tests and diagnostics.
  const std::vector<torch::Tensor>& gradients() const { return reducer_->buffers(); }
  // Why --cuda-graphs was asked for and the step stays eager (empty: not asked for, or capturing).
  const std::string& cuda_graph_fallback() const { return cuda_graph_fallback_; }
  // The captured update (null unless --cuda-graphs is in effect): counts for logs and tests.
  const CapturedUpdate* captured_update() const { return captured_.get(); }

 private:
  // `ids`/`mask` on the device; `host`: the same sentences as the reader gave them, which the
  // masking reads, so the step never waits for the device here.
  model::ReplacedTokens rtd_edit(const torch::Tensor& ids, const torch::Tensor& mask, const data::TokenBatch& host,
                                 int64_t micro);
  // The update from the device tokens to the optimizer step (see the header comment), writing
  // scalars_; returns this rank's anchor embeddings of the last micro-batch (for diagnostics).
  // `host`: the reader's batches (DiffCSE's masking reads them); `clock`: null while capturing
  // (events recorded into a graph time nothing).
  torch::Tensor run_update(const UpdateInputs& inputs, const std::vector<std::vector<data::TokenBatch>>& host,
                           PhaseClock* clock);
  // Snapshot of scalars_ into `out`, diagnostics on `anchor`, host copies and the ready event.
  void publish(StepOutput& out, const torch::Tensor& anchor, StagedStep& staged);

  model::SentenceEncoder encoder_;
  TrainStepConfig config_;
  cluster::Communicator& comm_;
  torch::Device device_;
  BlockingCollectiveTime blocking_;
  std::unique_ptr<cluster::GradientReducer> reducer_;
  std::unique_ptr<AdamW> optimizer_;
  std::unique_ptr<BatchStager> stager_;  // CUDA only; on a CPU the tokens are just cloned
  LinearSchedule schedule_;
  int64_t updates_ = 0;
  // updates_ on the device, in AdamW::lr_dtype: the schedule's input for the learning rate the
  // optimizer reads as a tensor (lr_schedule.h), so the update reads no host value.
  torch::Tensor update_counter_;
  // The step scalars (kScalar* below), fp32 on the device: written in place by every update.
  torch::Tensor scalars_;
  // 1 once a stop was requested on this rank (set by a device fill in stream order, read by the update).
  torch::Tensor stop_flag_;
  bool stop_requested_ = false;
  bool stop_flag_set_ = false;
  std::unique_ptr<CapturedUpdate> captured_;
  std::string cuda_graph_fallback_;
};

// Slots of the step scalars; the order of StepOutput::host_scalars.
enum StepScalar : int64_t {
  kScalarLoss = 0,
  kScalarInstance,
  kScalarDcl,
  kScalarGradNorm,
  kScalarSkipped,  // kScalarSkipped, kScalarStop: adjacent, all-reduced (kMax) as one tensor
  kScalarStop,
  kScalarRtd,
  kScalarRtdAccuracy,
  kStepScalars
};

// Global L2 norm over the flat gradient buffers as a device fp32 scalar (no host read).
torch::Tensor global_norm(const std::vector<torch::Tensor>& buffers);

// [rows, max_len] int64 tensors of a TokenBatch on `device`.
torch::Tensor to_ids_tensor(const data::TokenBatch& batch, torch::Device device);
torch::Tensor to_mask_tensor(const data::TokenBatch& batch, torch::Device device);

}  // namespace simcsepp::trainer
