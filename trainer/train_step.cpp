// train_step.cpp - see train_step.h.
#include "trainer/train_step.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/torch.h>

#include <limits>
#include <optional>

#include "base/error.h"
#include "model/autocast_scope.h"
#include "model/objective.h"
#include "model/objective_forward.h"
#include "trainer/chunked_forward_backward.h"
#include "trainer/cuda_graph_update.h"

namespace simcsepp::trainer {

namespace {

torch::Tensor host_to_device(const std::vector<int64_t>& values, const data::TokenBatch& batch, torch::Device device) {
  SIMCSEPP_CHECK(static_cast<int64_t>(values.size()) == batch.rows * batch.max_len, "TokenBatch size mismatch");
  // from_blob does not own the vector: clone (CPU) or copy to the device before it goes away.
  auto t = torch::from_blob(const_cast<int64_t*>(values.data()), {batch.rows, batch.max_len}, torch::kLong);
  return device.is_cpu() ? t.clone() : t.to(device);
}

}  // namespace

torch::Tensor global_norm(const std::vector<torch::Tensor>& buffers) {
  SIMCSEPP_CHECK(!buffers.empty(), "global_norm of no buffers");
  // One fused reduction per buffer (no parameter-sized temporary, unlike pow(2).sum()); 16-bit
  // buffers accumulate in fp32, fp64 ones in fp64.
  std::vector<torch::Tensor> norms;
  for (const auto& b : buffers) {
    const auto acc = b.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
    norms.push_back(torch::linalg_vector_norm(b, 2, std::nullopt, false, acc).to(torch::kFloat));
  }
  return norms.size() == 1 ? norms.front() : torch::linalg_vector_norm(torch::stack(norms), 2);
}

torch::Tensor to_ids_tensor(const data::TokenBatch& batch, torch::Device device) {
  return host_to_device(batch.input_ids, batch, device);
}
torch::Tensor to_mask_tensor(const data::TokenBatch& batch, torch::Device device) {
  return host_to_device(batch.attention_mask, batch, device);
}

TrainStep::TrainStep(model::SentenceEncoder encoder, TrainStepConfig config, cluster::Communicator& comm)
    : encoder_(std::move(encoder)),
      config_(std::move(config)),
      comm_(comm),
      device_(encoder_->parameters().front().device()),
      blocking_(comm),
      schedule_(config_.adamw.lr, config_.warmup_steps, config_.total_steps) {
  SIMCSEPP_CHECK(config_.grad_accum >= 1, "grad_accum must be >= 1");
  SIMCSEPP_CHECK(config_.chunk_size >= 0 && config_.logits_budget >= 0, "chunk_size and logits_budget must be >= 0");
  encoder_->train();
  SIMCSEPP_CHECK(!(encoder_->projector && config_.chunk_size > 0),
                 "the BatchNorm projector does not run with gradient caching (its batch is the whole call)");
  auto params = encoder_->parameters();
  if (config_.objective.rtd) {
    SIMCSEPP_CHECK(config_.rtd && config_.rtd->generator && config_.rtd->discriminator,
                   "the RTD objective needs a generator and a discriminator");
    SIMCSEPP_CHECK(config_.chunk_size == 0, "the RTD objective does not run with gradient caching");
    config_.rtd->discriminator->train();
    for (const auto& p : config_.rtd->discriminator->parameters()) params.push_back(p);
  }
  cluster::GradientReducerOptions reducer_options;
  reducer_options.bucket_bytes = config_.bucket_bytes;
  if (config_.bf16_grad_comm) reducer_options.comm_dtype = torch::kBFloat16;
  // With accumulation the buckets are all-reduced once, after the last micro-batch's backward.
  reducer_options.backward_passes_per_step = static_cast<int>(config_.grad_accum);
  reducer_ = std::make_unique<cluster::GradientReducer>(comm_, params, reducer_options);
  optimizer_ = std::make_unique<AdamW>(params, config_.adamw);
  update_counter_ = torch::zeros({}, torch::TensorOptions().dtype(AdamW::lr_dtype(device_)).device(device_));
  const auto fp32 = torch::TensorOptions().dtype(torch::kFloat).device(device_);
  scalars_ = torch::zeros({kStepScalars}, fp32);
  stop_flag_ = torch::zeros({}, fp32);
  if (device_.is_cuda()) stager_ = std::make_unique<BatchStager>(make_cuda_staging_ops(device_));
  if (config_.cuda_graphs) {
    cuda_graph_fallback_ = cuda_graph_blocker(config_, comm_, device_);
    if (cuda_graph_fallback_.empty()) captured_ = std::make_unique<CapturedUpdate>(device_, config_.cuda_graph_warmup);
  }
}

TrainStep::~TrainStep() = default;

StepOutput TrainStep::step(const std::vector<std::vector<data::TokenBatch>>& micro_batches,
                           const std::vector<data::PackedTokens>& packed) {
  SIMCSEPP_CHECK(static_cast<int64_t>(micro_batches.size()) == config_.grad_accum,
                 "step() needs grad_accum micro-batches");
  for (const auto& mb : micro_batches) {
    SIMCSEPP_CHECK(!mb.empty() && mb.front().rows >= 1, "step() got an empty micro-batch");
  }
  // With --cuda-graphs everything below runs on the capture stream (cuda_graph_update.h).
  std::optional<CapturedUpdate::StreamScope> on_capture_stream;
  if (captured_) on_capture_stream.emplace(*captured_);
  StepOutput out;
  out.update = updates_;
  out.lr = schedule_.lr_at(updates_);
  out.phases = std::make_shared<PhaseClock>(device_, &blocking_);
  if (stop_requested_ && !stop_flag_set_) {
    stop_flag_.fill_(1.0);  // once, in stream order before this update
    stop_flag_set_ = true;
  }
  out.phases->start();
  UpdateInputs inputs;
  StagedStep staged;
  if (stager_) {
    staged = stager_->stage(micro_batches, packed);  // async copies, no host sync
    inputs.ids = staged.ids;
    inputs.masks = staged.masks;
  } else {
    for (const auto& mb : micro_batches) {
      inputs.ids.emplace_back();
      inputs.masks.emplace_back();
      for (const auto& c : mb) {
        inputs.ids.back().push_back(to_ids_tensor(c, device_));
        inputs.masks.back().push_back(to_mask_tensor(c, device_));
      }
    }
  }
  torch::Tensor anchor;
  if (captured_) {
    // A replayed update has no phase split: its time is the step's (docs/performance.md).
    const int64_t replays = captured_->replays();
    anchor = captured_->run(inputs, [&](const UpdateInputs& in, bool capturing) {
      return run_update(in, micro_batches, capturing ? nullptr : out.phases.get());
    });
    // Replayed collectives were never queued for the watchdog: the replay is, as one.
    if (captured_->replays() > replays && comm_.runs_collectives()) comm_.watch_device_work("CUDA-graph update");
  } else {
    anchor = run_update(inputs, micro_batches, out.phases.get());
  }
  ++updates_;
  publish(out, anchor, staged);
  return out;
}

torch::Tensor TrainStep::run_update(const UpdateInputs& inputs, const std::vector<std::vector<data::TokenBatch>>& host,
                                    PhaseClock* clock) {
  const auto lap = [clock](PhaseClock::Phase phase) {
    if (clock) clock->lap(phase);
  };
  // One backward pass per micro-batch, or per chunk with gradient caching: the reducer launches
  // each bucket when the last one has delivered its gradient.
  int64_t passes = 0;
  for (const auto& ids : inputs.ids) {
    passes += config_.chunk_size > 0 ? chunk_count(ids.front().size(0), config_.chunk_size) : 1;
  }
  reducer_->set_backward_passes_per_step(static_cast<int>(passes));
  reducer_->zero_grad();
  const double scale = 1.0 / static_cast<double>(config_.grad_accum);
  scalars_.zero_();
  auto slot = [this](StepScalar s) { return scalars_.select(0, s); };
  auto loss_sum = slot(kScalarLoss), instance_sum = slot(kScalarInstance), dcl_sum = slot(kScalarDcl);
  torch::Tensor anchor;
  for (size_t m = 0; m < inputs.ids.size(); ++m) {
    const auto& ids = inputs.ids[m];
    const auto& masks = inputs.masks[m];
    if (config_.chunk_size > 0) {
      SIMCSEPP_CHECK(clock, "gradient caching is never captured");
      const auto r = chunked_forward_backward(encoder_, comm_, config_.objective, config_.pooler, ids, masks,
                                              config_.chunk_size, scale, config_.mixed_precision, *clock,
                                              config_.logits_budget);
      loss_sum.add_(r.loss.total * scale);
      instance_sum.add_(r.loss.instance * scale);
      dcl_sum.add_(r.loss.dcl * scale);
      anchor = r.anchor;
      continue;
    }
    model::ObjectiveViews views;
    model::ReplacedTokens edited;
    {
      // One autocast region for all encoder calls of this forward pass: each weight is cast to
      // bf16 once. The loss (below) and backward run outside it, in fp32.
      model::AutocastScope autocast(device_.type(), config_.mixed_precision);
      views = model::encode_views(encoder_, config_.objective, config_.pooler, ids, masks, &comm_,
                                  config_.fuse_off_dropout);
      if (config_.objective.rtd) {
        edited = rtd_edit(ids.front(), masks.front(), host[m].front(), static_cast<int64_t>(m));
      }
    }
    const auto loss = model::objective_loss(comm_, config_.objective, views);
    auto total = loss.total;
    if (config_.objective.rtd) {
      // DiffCSE: both dropout-on views (h and h+, after the head) condition the discriminator on
      // their own edited copy, as the official code feeds its 2N sentences.
      const auto two = torch::cat({masks.front(), masks.front()}, 0);
      model::RtdLoss rtd;
      {
        model::AutocastScope autocast(device_.type(), config_.mixed_precision);
        rtd = model::rtd_loss(comm_, config_.rtd->discriminator, edited, two,
                              torch::cat({views.anchor, views.positive}, 0), true);
      }
      total = total + config_.objective.rtd_weight * rtd.loss;
      slot(kScalarRtd).add_(rtd.loss.detach() * scale);
      slot(kScalarRtdAccuracy).add_(rtd.accuracy * scale);
    }
    lap(PhaseClock::kForward);
    (total * scale).backward();
    lap(PhaseClock::kBackward);
    loss_sum.add_(total.detach() * scale);
    instance_sum.add_(loss.instance.detach() * scale);
    dcl_sum.add_(loss.dcl.detach() * scale);
    anchor = views.anchor.detach();
  }
  reducer_->reduce();
  lap(PhaseClock::kCommunication);

  torch::NoGradGuard no_grad;
  auto grad_norm = slot(kScalarGradNorm);
  grad_norm.copy_(global_norm(reducer_->buffers()));
  // One tiny collective: every rank skips the same updates and stops at the same step.
  auto control = scalars_.narrow(0, kScalarSkipped, 2);
  control.select(0, 0).copy_(torch::logical_not(torch::isfinite(loss_sum) & torch::isfinite(grad_norm)));
  control.select(0, 1).copy_(stop_flag_);
  comm_.all_reduce(control, cluster::ReduceOp::kMax);
  if (config_.grad_clip > 0) {
    const auto coef = (config_.grad_clip / (grad_norm + 1e-6)).clamp_max(1.0);
    for (const auto& b : reducer_->buffers()) b.mul_(coef.to(b.scalar_type()));
  }
  // StepOutput::lr (host, for the logs) and the device rate are the same formula: bit for bit on
  // CPU (float64); on CUDA the rate is float32 (AdamW::lr_dtype).
  optimizer_->step(schedule_.lr_tensor(update_counter_), control.select(0, 0));
  update_counter_.add_(1);
  lap(PhaseClock::kOptimizer);
  return anchor;
}

void TrainStep::publish(StepOutput& out, const torch::Tensor& anchor, StagedStep& staged) {
  torch::NoGradGuard no_grad;
  // This update's scalars, whatever the next update writes into scalars_.
  const auto scalars = scalars_.clone();
  out.loss = scalars[kScalarLoss];
  out.instance = scalars[kScalarInstance];
  out.dcl = scalars[kScalarDcl];
  out.grad_norm = scalars[kScalarGradNorm];
  out.skipped = scalars[kScalarSkipped];
  out.stop = scalars[kScalarStop];
  out.rtd = scalars[kScalarRtd];
  out.rtd_accuracy = scalars[kScalarRtdAccuracy];
  // After the last lap and outside the capturable update: diagnostics are not part of the step's
  // cost breakdown, and their cadence is a host decision.
  if (config_.diagnostics_every > 0 && out.update % config_.diagnostics_every == 0) {
    // A non-finite batch (a skipped update) would make the SVD throw: decompose zeros instead
    // and report NaN, without reading the flag on the host.
    const auto a = anchor.to(torch::kFloat);
    const auto finite = torch::isfinite(a).all();
    const auto s = torch::linalg_svdvals(torch::where(finite, a, torch::zeros_like(a)));
    out.singular_values = torch::where(finite, s, torch::full_like(s, std::numeric_limits<float>::quiet_NaN()));
  }
  if (device_.is_cuda()) {
    auto pinned = torch::TensorOptions().dtype(torch::kFloat).pinned_memory(true);
    out.host_scalars = torch::empty({kStepScalars}, pinned);
    out.host_scalars.copy_(scalars, /*non_blocking=*/true);
    if (out.singular_values.defined()) {
      out.host_singular_values = torch::empty(out.singular_values.sizes(), pinned);
      out.host_singular_values.copy_(out.singular_values, /*non_blocking=*/true);
    }
    stager_->release(staged);  // every kernel that reads this step's tokens is queued
    out.ready = std::make_shared<c10::Event>(device_.type());
    out.ready->record(c10::impl::VirtualGuardImpl(device_.type()).getStream(device_));
  } else {
    out.host_scalars = scalars;
    out.host_singular_values = out.singular_values;
  }
}

model::ReplacedTokens TrainStep::rtd_edit(const torch::Tensor& ids, const torch::Tensor& mask,
                                          const data::TokenBatch& host, int64_t micro) {
  // The sentence twice (h and h+ each get an edited copy, masked independently). Row keys:
  // (seed, update, micro-batch, copy, global row rank*N + i) - reproducible on resume without
  // saving a generator state, independent of the dropout streams, and the same for a sentence on
  // whichever rank encodes it (rtd_corruption.h).
  const RtdParts& r = *config_.rtd;
  const int64_t n = ids.size(0);
  std::vector<uint64_t> keys(static_cast<size_t>(2 * n));
  for (int64_t row = 0; row < 2 * n; ++row) {
    uint64_t k = r.seed * 0x9E3779B97F4A7C15ULL;
    for (const uint64_t part : {static_cast<uint64_t>(updates_), static_cast<uint64_t>(micro),
                                static_cast<uint64_t>(row / n), static_cast<uint64_t>(r.rank * n + row % n)}) {
      k = (k ^ part) * 0xBF58476D1CE4E5B9ULL;
      k ^= k >> 31;
    }
    keys[static_cast<size_t>(row)] = k;
  }
  const auto two_ids = torch::cat({ids, ids}, 0);
  const auto two_mask = torch::cat({mask, mask}, 0);
  model::RtdMaskingOptions masking = r.masking;
  masking.ratio = config_.objective.rtd_mask_ratio;
  // Masked on the host from the reader's tokens (mask_for_rtd draws on CPU generators): reading
  // the device ids back would make every micro-batch wait for the device.
  const auto host_ids = to_ids_tensor(host, torch::kCPU), host_mask = to_mask_tensor(host, torch::kCPU);
  auto masked = model::mask_for_rtd(torch::cat({host_ids, host_ids}, 0), torch::cat({host_mask, host_mask}, 0),
                                    masking, keys);
  // Pinned, so the copy is queued behind the step's kernels instead of waiting for them.
  masked = device_.is_cuda() ? masked.pin_memory().to(device_, /*non_blocking=*/true) : masked;
  // The official generator runs in train mode: with dropout (under no_grad).
  return model::replace_tokens(config_.rtd->generator, two_ids, two_mask, masked, true);
}

void TrainStep::set_updates(int64_t updates) {
  updates_ = updates;
  update_counter_.fill_(static_cast<double>(updates));
}

StepValues StepOutput::read() const {
  if (ready) ready->synchronize();
  const auto h = host_scalars.to(torch::kFloat64).contiguous();
  const double* v = h.data_ptr<double>();
  StepValues out;
  out.loss = v[0];
  out.instance = v[1];
  out.dcl = v[2];
  out.grad_norm = v[3];
  out.skipped = v[4] > 0;
  out.stop = v[5] > 0;
  out.rtd = v[6];
  out.rtd_accuracy = v[7];
  if (host_singular_values.defined()) {
    const auto s = host_singular_values.to(torch::kFloat64).contiguous();
    out.singular_values.assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
  }
  return out;
}

}  // namespace simcsepp::trainer
