// training_run.cpp - see training_run.h. The phases in the order run() calls them.
#include "trainer/training_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "simcsepp/build_config.h"
#if SIMCSEPP_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "base/error.h"
#include "base/exit_codes.h"
#include "base/log.h"
#include "data/manifest.h"
#include "evaluation/sentence_embedder.h"
#include "evaluation/sts_evaluation.h"
#include "model/attention_backend.h"
#include "model/flop_count.h"
#include "model/model_card.h"
#include "monitoring/embedding_diagnostics.h"
#include "report/run_report.h"
#include "trainer/best_model.h"
#include "trainer/chunked_forward_backward.h"
#include "trainer/cuda_graph_update.h"
#include "trainer/preemption.h"
#include "trainer/rank_timings.h"
#include "trainer/rtd_parts.h"
#include "trainer/step_metrics_line.h"
#include "trainer/test_hooks.h"

namespace simcsepp::trainer {

namespace fs = std::filesystem;

int run_training(const TrainOptions& options) {
  TrainingRun run(options);
  return run.run();
}

TrainingRun::TrainingRun(const TrainOptions& options) : o_(options) {}

int TrainingRun::run() {
  set_up();
  load_model();
  open_reader();
  claim_directory();
  build_step();
  resume();
  start_monitoring();
  train_loop();
  return finish();
}

double TrainingRun::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

// ---------------------------------------------------------------------------------------------
// 1. Set-up: nothing starts before every input is known to be usable.

void TrainingRun::set_up() {
  o_.validate();
  objective_ = o_.objective_config();
  inputs_ = check_run_inputs(o_, objective_);
  // Before the bootstrap: a warning that arrives while the ranks start up must not kill them
  // (SIGUSR1's default action); it stops the run at its first step instead.
  install_preemption_handlers();
  cluster_ = cluster::bootstrap_cluster(o_.comm, o_.device);
  comm_ = cluster_.comm.get();
  rank_ = comm_->rank();
  device_ = cluster_.device;
  install_preemption_handlers();  // again, in case MPI's start-up replaced them
  // A resume keeps the checkpoint's global batch on any number of ranks (run_directory.h).
  resume_from_ = resume_checkpoint(o_);
  shape_ = start_shape(o_, comm_->world_size(), resume_from_);
  o_.batch_size = shape_.batch_size;
  const int64_t global_batch = o_.batch_size * comm_->world_size();
  // The other sentences of the global batch are the negatives: with one there are none, the
  // loss is a constant and every gradient is 0 - a run that "trains" and learns nothing.
  if (global_batch < 2) {
    throw Error("a global batch of " + std::to_string(global_batch) +
                    " sentence has no in-batch negatives: the contrastive loss is constant and nothing would train",
                "--batch-size", "use --batch-size 2 or more (the paper uses 64 per GPU), or more ranks");
  }
  if (inputs_.manifest.total_rows < global_batch) {
    throw Error("the corpus has " + std::to_string(inputs_.manifest.total_rows) + " rows, fewer than one global batch of " +
                    std::to_string(global_batch) + " (" + std::to_string(o_.batch_size) + " per rank x " +
                    std::to_string(comm_->world_size()) + " ranks)",
                o_.corpus_dir, "use a smaller --batch-size, fewer ranks or a larger corpus");
  }
}

// ---------------------------------------------------------------------------------------------
// 2. The model.

void TrainingRun::load_model() {
  // load_hf_model logs what it initialised (the MLP head) and refuses missing encoder weights.
  encoder_ = model::load_hf_model(o_.model_dir, &model_source_);
  if (o_.projector == "batchnorm") {
    encoder_->add_projector(o_.seed);  // fresh, as the official ProjectionMLP; a resume restores it
    LOG_INFO("projector: DiffCSE's BatchNorm MLP on [CLS] (training only; global batch statistics)");
  }
  encoder_->to(device_);
  tokenizer_.emplace(data::WordPieceTokenizer::from_vocab_file(inputs_.vocab_path, inputs_.manifest.lowercase));
}

// ---------------------------------------------------------------------------------------------
// 3. The reader and the run length.

void TrainingRun::open_reader() {
  auto& ro = reader_options_;
  ro.corpus_dir = o_.corpus_dir;
  ro.rank = rank_;
  ro.world_size = comm_->world_size();
  ro.local_batch = o_.batch_size;
  ro.seed = o_.seed;
  ro.expected_vocab_sha256 = tokenizer_->vocab_sha256();
  // On CUDA the prefetch thread packs each batch into pinned memory, copied to the GPU as is.
  if (device_.is_cuda()) ro.batch_memory = make_cuda_pinned_host_memory();
  if (!shape_.checkpoint.is_null()) {
    // Resharded resume (docs/training.md#resharding): the epoch in progress continues the global
    // order of the layout it was started with from the rows it consumed; with the global batch
    // unchanged, later epochs keep that layout too, so the run sees the uninterrupted run's batches.
    const auto& meta = shape_.checkpoint;
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
    ro.layout_later_epochs = !shape_.batch_changed;
    if (ro.layout_world_size != comm_->world_size() || ro.layout_local_batch != o_.batch_size) {
      LOG_INFO("resuming a checkpoint of " << meta.at("world_size").get<int>() << " rank(s) on " << comm_->world_size()
                                           << ": epoch " << ro.layout_epoch << " continues the order of "
                                           << ro.layout_world_size << " rank(s) x " << ro.layout_local_batch
                                           << " rows from row " << ro.layout_base_row
                                           << (ro.layout_later_epochs ? ", and later epochs keep that layout"
                                                                      : "; later epochs use this job's layout"));
    }
  }
  reader_.emplace(ro);
  steps_per_epoch_ = reader_->steps_per_epoch() / o_.grad_accum;
  if (steps_per_epoch_ < 1 && o_.max_steps == 0) {
    throw Error("the corpus has fewer rows than one global batch", o_.corpus_dir,
                "use a smaller --batch-size, fewer ranks or a larger corpus");
  }
  // A changed global batch continues the schedule by update count: the saved run length.
  const int64_t saved_total = shape_.checkpoint.is_null() ? 0 : shape_.checkpoint.value("total_steps", int64_t{0});
  total_steps_ = o_.max_steps > 0                          ? o_.max_steps
                 : shape_.batch_changed && saved_total > 0 ? saved_total
                     : static_cast<int64_t>(std::ceil(o_.epochs * static_cast<double>(steps_per_epoch_)));
  if (!shape_.checkpoint.is_null()) {
    const int64_t unread = reader_->rows_left_unread(ro.layout_epoch);
    // Fewer rows than one old global batch are the tail the old run dropped too.
    if (unread >= ro.layout_local_batch * ro.layout_world_size) {
      LOG_WARN("epoch " << ro.layout_epoch << " leaves " << unread
                        << " rows of its order unread: the larger global batch has no whole step left for them");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 4. The run directory: whose it is, what this start may do there and the checkpoint it resumes
// from (run_directory.h), decided on every rank from the same files before any training.

void TrainingRun::claim_directory() {
  const RunDirectoryPlan plan = plan_run_directory(
      o_,
      current_run_identity(o_, inputs_.bert, (fs::path(o_.corpus_dir) / data::kManifestFileName).string(),
                           comm_->world_size()),
      total_steps_, resume_from_);
  if (plan.resume_from != resume_from_) throw Error("internal: the plan resumes another checkpoint", resume_from_, "report this");
  comm_->barrier();  // every rank has read the directory before rank 0 changes it
  if (rank_ == 0) apply_run_directory_plan(o_.run_dir, plan);
  comm_->barrier();
  run_config_ = o_.to_json();
  run_config_["run"] = checkpoint_run_record(read_run_identity(o_.run_dir), o_.run_dir);
}

// ---------------------------------------------------------------------------------------------
// 5. The step.

void TrainingRun::build_step() {
  auto& sc = step_config_;
  sc.objective = objective_;
  sc.pooler = model::parse_pooler(o_.pooler);
  sc.adamw.lr = o_.lr;
  sc.adamw.weight_decay = o_.weight_decay;
  sc.warmup_steps = o_.warmup_steps;
  sc.total_steps = total_steps_;
  sc.grad_clip = o_.grad_clip;
  sc.grad_accum = o_.grad_accum;
  // A chunk as large as the micro-batch would only add the second forward: chunking is off.
  sc.chunk_size = o_.chunk_size < o_.batch_size ? o_.chunk_size : 0;
  sc.logits_budget = o_.logits_budget;
  if (o_.chunk_size > 0 && sc.chunk_size == 0) {
    LOG_INFO("--chunk-size " << o_.chunk_size << " >= --batch-size " << o_.batch_size
                             << ": gradient caching off (the micro-batch is one chunk)");
  } else if (sc.chunk_size > 0) {
    LOG_INFO("gradient caching: micro-batch of " << o_.batch_size << " in " << chunk_count(o_.batch_size, sc.chunk_size)
                                                 << " chunks of <= " << sc.chunk_size << " sentences");
  }
  sc.bucket_bytes = o_.bucket_mb * 1024 * 1024;
  sc.bf16_grad_comm = o_.grad_comm_dtype == "bf16";
  precisions_ = resolve_precisions(o_, device_.is_cuda());
  sc.mixed_precision = precisions_.train_bf16;
  sc.diagnostics_every = o_.diagnostics_every;
  {
    // Chosen before the first encoder call; the log names the kernel torch will really run.
    const auto& bert = encoder_->config();
    const auto backend = model::parse_attention_backend(o_.attention_backend);
    const int64_t heads = bert.num_attention_heads, head_dim = bert.hidden_size / bert.num_attention_heads;
    const bool dropout = bert.attention_probs_dropout_prob > 0;
    const auto dtype = [](bool bf16) { return bf16 ? torch::kBFloat16 : torch::kFloat; };
    const auto step_kernel = model::configure_attention(backend, device_, dtype(precisions_.train_bf16), heads,
                                                        head_dim, o_.max_len, dropout);
    const auto eval_kernel = model::configure_attention(backend, device_, dtype(precisions_.eval_bf16), heads,
                                                        head_dim, evaluation::default_eval_max_len(bert), false);
    LOG_INFO("attention: " << step_kernel << " kernel in the step, " << eval_kernel
                           << " in evaluation (--attention-backend " << o_.attention_backend << ")");
  }
  if (objective_.rtd) sc.rtd = make_rtd_parts(o_, *tokenizer_, encoder_->config(), device_, rank_);
  sc.cuda_graphs = o_.cuda_graphs == "on";
  sc.fuse_off_dropout = o_.off_dropout_call == "fused";
  if (sc.fuse_off_dropout && (!objective_.off_dropout || sc.chunk_size > 0 || encoder_->projector)) {
    LOG_WARN("--off-dropout-call fused: the calls stay separate: "
             << (!objective_.off_dropout ? "the objective has no dropout-off call"
                 : sc.chunk_size > 0     ? "gradient caching (--chunk-size) encodes its chunks in separate calls"
                                         : "the BatchNorm projector's statistics are per call"));
  }
  step_ = std::make_unique<TrainStep>(encoder_, sc, *comm_);
  if (sc.cuda_graphs && !step_->cuda_graph_fallback().empty()) {
    LOG_WARN("--cuda-graphs on: the step stays eager: " << step_->cuda_graph_fallback());
  } else if (sc.cuda_graphs) {
    LOG_INFO("--cuda-graphs on: the update is captured after " << sc.cuda_graph_warmup
                                                               << " eager updates and replayed (one launch per step)");
  }
  eval_pooler_ = model::parse_pooler(o_.eval_pooler);
  eval_max_len_ = evaluation::default_eval_max_len(encoder_->config());
}

// ---------------------------------------------------------------------------------------------
// 6. Resume.

void TrainingRun::resume() {
  // Dropout streams differ per rank; a resume overwrites them with the saved states.
  torch::manual_seed(o_.seed + 1000003ULL * static_cast<uint64_t>(rank_));
  checkpoint_dir_ = (fs::path(o_.run_dir) / "checkpoints").string();
  progress_.reader = reader_->position();
  if (o_.resume == "auto" && resume_from_.empty()) {
    LOG_INFO("--resume auto: no checkpoint in " << checkpoint_dir_ << ", starting fresh");
  }
  if (!resume_from_.empty()) {
    progress_ = load_training_checkpoint(resume_from_, *step_, *comm_);
    reader_->seek(progress_.reader);
    progress_.reader = reader_->position();  // past a layout epoch a larger global batch has no step left of
    LOG_INFO("resumed from " << resume_from_ << " at step " << progress_.step);
  }
  if (rank_ == 0) fs::create_directories(o_.run_dir);
  comm_->barrier();
}

// ---------------------------------------------------------------------------------------------
// 7. Monitoring: Prometheus on every rank, metrics.jsonl on rank 0, the divergence check.

void TrainingRun::start_monitoring() {
  run_metrics_ = std::make_unique<RunMetrics>(o_, *comm_, cluster_.topology, device_);
  std::vector<std::string> param_names;
  std::vector<torch::Tensor> params;
  for (const auto& p : step_->encoder()->named_parameters()) {
    param_names.push_back(p.key());
    params.push_back(p.value());
  }
  if (auto d = step_->discriminator()) {  // DiffCSE: the discriminator is replicated the same way
    for (const auto& p : d->named_parameters()) {
      param_names.push_back("discriminator." + p.key());
      params.push_back(p.value());
    }
  }
  divergence_ = std::make_unique<cluster::DivergenceCheck>(*comm_, param_names, params, o_.check_params_every);
  if (rank_ == 0) metrics_.emplace((fs::path(o_.run_dir) / "metrics.jsonl").string());
  if (metrics_ && resume_from_.empty()) metrics_->write("config", run_config_);
  sentences_per_step_ = o_.batch_size * comm_->world_size() * o_.grad_accum;
  LOG_INFO("training " << objective_.name() << " for " << total_steps_ << " steps (" << steps_per_epoch_
                       << " per epoch), global batch " << sentences_per_step_ << " on " << device_.str() << ", "
                       << comm_->world_size() << " rank(s), " << (step_config_.mixed_precision ? "bf16" : "fp32")
                       << " step, " << (precisions_.eval_bf16 ? "bf16" : "fp32") << " evaluation");
  bar_ = std::make_unique<ProgressLine>(total_steps_, o_.log_every, rank_ == 0);
  // Model FLOPs of one update on this rank (flop_count.h: padded length, matmuls only).
  const auto& rtd = step_config_.rtd;
  step_flops_ = static_cast<double>(o_.grad_accum) *
                (model::training_step_flops(step_->encoder()->config(), objective_, o_.batch_size, o_.max_len,
                                            static_cast<int64_t>(inputs_.manifest.columns.size()), step_config_.pooler) +
                 (rtd ? model::rtd_step_flops(rtd->generator->config(), rtd->discriminator->bert->config(),
                                              o_.batch_size, o_.max_len)
                      : 0.0));
  device_peak_ = peak_flops(o_, device_, step_config_.mixed_precision);
  auto& prom = run_metrics_->metrics();
  background_ = std::make_unique<AsyncCheckpointWriter>(
      [&prom](const std::string&, double seconds) { prom.record_checkpoint(seconds); });
}

// ---------------------------------------------------------------------------------------------
// 8. The loop.

void TrainingRun::train_loop() {
  start_ = std::chrono::steady_clock::now();
  seconds_before_ = progress_.train_seconds;
  first_step_ = progress_.step;
  kill_after_ = kill_after_step_for_tests(rank_);
  batch_rows_log_ = batch_rows_log_for_tests(rank_);
  if (progress_.step == 0 && o_.eval_at_start) evaluate(false);
  while (progress_.step < total_steps_ && !stop_ && !abort_skips_) {
    PendingStep next = launch_update();
    ++progress_.step;
    if (pending_) settle(*pending_, next.begin);
    pending_ = std::move(next);
    // The previous step is settled on every rank by now (just above, or early for an evaluation,
    // a checkpoint or a test hold), so every rank gathers its timings here.
    if (const int64_t logged = progress_.step - 1; logged > first_step_ && logged % o_.log_every == 0) {
      log_rank_timings(logged);
    }
    const bool eval_now = o_.eval_every > 0 && progress_.step % o_.eval_every == 0 && progress_.step < total_steps_;
    const bool ckpt_now = o_.checkpoint_every > 0 ? progress_.step % o_.checkpoint_every == 0 : eval_now;
    if (eval_now || ckpt_now) settle_pending();
    if (eval_now) evaluate(true);
    if (ckpt_now && progress_.step < total_steps_) save_checkpoint("interval");
    if (progress_.step == kill_after_) {
      settle_pending();     // the metrics line of this step is written, as a crash after it would
      background_->wait();  // and a checkpoint of this step is on disk: the tests resume from it
      // SIMCSEPP_TEST_KILL_EXIT_CODE=N: exit N instead (a rank that fails, rather than dies).
      if (const char* code = std::getenv("SIMCSEPP_TEST_KILL_EXIT_CODE"); code && *code) std::_Exit(std::atoi(code));
      std::raise(SIGKILL);
    }
    if (hold_requested_for_tests(std::to_string(progress_.step), rank_)) {
      settle_pending();
      hold_for_tests(std::to_string(progress_.step), rank_);
    }
  }
  settle_pending();
  if (progress_.step > first_step_) log_rank_timings(progress_.step);  // the last step of this job
  if (!stop_ && !abort_skips_ && progress_.step < total_steps_) stop_ = true;  // settle() saw the flag late
}

// Reads this update's micro-batches and launches the step; its outputs stay on the device.
TrainingRun::PendingStep TrainingRun::launch_update() {
  std::vector<std::vector<data::TokenBatch>> micro;
  std::vector<data::PackedTokens> packed;  // on CUDA: the same tokens in pinned blocks
  PendingStep next;
  next.queue_depth = reader_->queue_depth();
  next.begin = std::chrono::steady_clock::now();
  for (int64_t a = 0; a < o_.grad_accum; ++a) {
    auto batch = reader_->next();
    next.rows.insert(next.rows.end(), batch.global_rows.begin(), batch.global_rows.end());
    if (batch_rows_log_) {
      *batch_rows_log_ << progress_.step + 1 << ' ' << a << ' ' << batch.position.epoch << ' '
                       << batch.position.step_in_epoch;
      for (const int64_t r : batch.global_rows) *batch_rows_log_ << ' ' << r;
      *batch_rows_log_ << std::endl;  // flushed: a killed rank's lines are all there
    }
    for (const auto& c : batch.columns) {
      next.sentences += c.rows;
      for (const int64_t m : c.attention_mask) next.tokens += m;
    }
    micro.push_back(std::move(batch.columns));
    if (batch.packed.data) packed.push_back(std::move(batch.packed));
  }
  next.data_wait_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - next.begin).count();
  next.reader_io = reader_->stats();
  if (preemption_requested()) step_->request_stop();
  next.out = step_->step(micro, packed);
  if (!capture_logged_ && step_->captured_update() && step_->captured_update()->captured()) {
    capture_logged_ = true;
    LOG_INFO("--cuda-graphs: update " << next.out.update + 1 << " was captured into a CUDA graph; later updates replay it");
  }
  divergence_->after_update(next.out.update);
  return next;
}

void TrainingRun::settle_pending() {
  if (!pending_) return;
  settle(*pending_);
  pending_.reset();
}

// Reads a launched update's outputs: skip bookkeeping, the progress line, metrics.jsonl and
// Prometheus. end: when the next step began (steady state: launches are paced by the device, so
// the period between two step starts is the step time), or now if none began after this one.
void TrainingRun::settle(const PendingStep& p, std::optional<std::chrono::steady_clock::time_point> end) {
  const StepValues v = p.out.read();
  if (v.stop) stop_ = true;
  if (v.skipped) {
    ++progress_.skipped_total;
    ++progress_.consecutive_skips;
    std::ostringstream rows;
    for (size_t i = 0; i < p.rows.size() && i < 16; ++i) rows << (i ? "," : "") << p.rows[i];
    if (p.rows.size() > 16) rows << ",...";
    bar_->break_line();
    LOG_WARN("step " << p.out.update + 1 << ": non-finite loss or gradient, update skipped ("
                     << progress_.consecutive_skips << " in a row; batch rows " << rows.str() << ")");
    if (progress_.consecutive_skips >= o_.max_skipped_steps) abort_skips_ = true;
  } else {
    progress_.consecutive_skips = 0;
  }
  const double t = elapsed_seconds();
  const double rate = static_cast<double>((p.out.update + 1 - first_step_) * sentences_per_step_) / std::max(1e-9, t);
  const double eta = static_cast<double>(total_steps_ - p.out.update - 1) * sentences_per_step_ / std::max(1e-9, rate);
  bar_->update(p.out.update + 1, v.loss, rate, eta, last_dev_, v.skipped);
  record_step(p, v, end.value_or(std::chrono::steady_clock::now()), rate);
}

// The settled step into metrics.jsonl (rank 0) and Prometheus (every rank).
void TrainingRun::record_step(const PendingStep& p, const StepValues& v, std::chrono::steady_clock::time_point end,
                              double rate) {
  const PhaseSeconds phases = p.out.phases->seconds();
  monitoring::StepRecord r;
  r.step = p.out.update + 1;
  r.loss = v.loss;
  r.instance_loss = v.instance;
  r.dcl_loss = v.dcl;
  if (objective_.rtd) {
    r.rtd_loss = v.rtd;
    r.rtd_accuracy = v.rtd_accuracy;
  }
  r.learning_rate = p.out.lr;
  r.grad_norm = v.grad_norm;
  r.step_seconds = std::chrono::duration<double>(end - p.begin).count();
  rank_samples_[r.step] = {r.step_seconds, r.step_seconds > 0 ? static_cast<double>(p.sentences) / r.step_seconds : 0.0};
  r.data_wait_seconds = p.data_wait_s;
  r.forward_seconds = phases.forward;
  r.backward_seconds = phases.backward;
  r.communication_seconds = phases.communication;
  r.optimizer_seconds = phases.optimizer;
  r.sentences = p.sentences;
  r.tokens = p.tokens;
  r.skipped = v.skipped;
  r.data_queue_depth = p.queue_depth;
  r.data_bytes_read = p.reader_io.bytes_read - reported_io_.bytes_read;
  r.data_shards_opened = p.reader_io.shards_opened - reported_io_.shards_opened;
  reported_io_ = p.reader_io;
  r.epoch = static_cast<double>(p.out.update + 1) / std::max<int64_t>(1, steps_per_epoch_);
  if (r.step_seconds > 0) {
    r.model_flops_per_second = step_flops_ / r.step_seconds;
    if (device_peak_ > 0) r.model_flops_utilization = *r.model_flops_per_second / device_peak_;
  }
  if (!v.singular_values.empty() &&
      std::all_of(v.singular_values.begin(), v.singular_values.end(), [](double x) { return std::isfinite(x); })) {
    r.effective_rank = monitoring::effective_rank(v.singular_values);
  }
#if SIMCSEPP_HAVE_CUDA
  if (device_.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device_.index());
    constexpr size_t kAggregate = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    r.gpu_memory_used_bytes = static_cast<double>(stats.allocated_bytes[kAggregate].current);
    r.gpu_memory_reserved_bytes = static_cast<double>(stats.reserved_bytes[kAggregate].current);
  }
#endif
  if (metrics_) metrics_->write("step", step_metrics_line(r, rate));
  run_metrics_->metrics().record_step(r);
}

// Every rank's step time and sentences/s of step `s` into rank 0's metrics.jsonl as a "ranks"
// line (rank_timings.h), so the report shows stragglers. Collective: called by every rank at the
// same points of the loop, for a step every rank has settled.
void TrainingRun::log_rank_timings(int64_t s) {
  const auto it = rank_samples_.find(s);
  SIMCSEPP_CHECK(it != rank_samples_.end(), "step " + std::to_string(s) + " gathered before it was settled");
  const RankTimings t = gather_rank_timings(*comm_, device_, it->second.first, it->second.second);
  rank_samples_.erase(rank_samples_.begin(), std::next(it));
  if (metrics_) metrics_->write("ranks", {{"step", s}, {"step_s", t.step_seconds}, {"sentences_per_s", t.sentences_per_s}});
}

// STS-B dev on the current weights; a better score replaces RUN/best (best_model.h).
void TrainingRun::evaluate(bool candidate) {
  const auto score = evaluation::evaluate_sts(step_->encoder(), *tokenizer_, inputs_.dev_pairs, eval_pooler_,
                                              eval_max_len_, 128, device_, precisions_.eval_bf16);
  last_dev_ = score.spearman_x100;
  run_metrics_->metrics().record_eval({.step = progress_.step,
                                       .spearman = score.spearman_x100 / 100.0,
                                       .alignment = score.alignment,
                                       .uniformity = score.uniformity});
  nlohmann::json line = {{"step", progress_.step},
                         {"sts_dev_spearman_x100", score.spearman_x100},
                         {"pairs", score.pairs},
                         {"alignment", score.alignment},
                         {"uniformity", score.uniformity},
                         {"precision", precisions_.eval_bf16 ? "bf16" : "fp32"}};
  if (!candidate) {
    initial_dev_ = score.spearman_x100;
    line["initial"] = true;
    if (metrics_) metrics_->write("eval", line);
    bar_->break_line();
    LOG_INFO("step " << progress_.step << ": STS-B dev Spearman " << score.spearman_x100 << " (before training)");
    return;
  }
  const bool better = std::isfinite(score.spearman_x100) && score.spearman_x100 > progress_.best_score;
  if (better) {
    progress_.best_score = score.spearman_x100;
    progress_.best_step = progress_.step;
    if (rank_ == 0) save_best_model(step_->encoder(), o_.run_dir, progress_.step, progress_.best_score);
  }
  comm_->barrier();
  line["best"] = better;
  line["best_score"] = progress_.best_score;
  line["best_step"] = progress_.best_step;
  if (metrics_) metrics_->write("eval", line);
  bar_->break_line();
  LOG_INFO("step " << progress_.step << ": STS-B dev Spearman " << score.spearman_x100 << (better ? " (best)" : ""));
}

// why: "interval" (in the background unless --sync-checkpoints), "preempted", "skipped-steps" or
// "final" (durable before this returns).
void TrainingRun::save_checkpoint(const char* why) {
  progress_.reader = reader_->position();
  progress_.layout_world_size = reader_->layout_world_size(progress_.reader.epoch);
  progress_.layout_local_batch = reader_->layout_local_batch(progress_.reader.epoch);
  progress_.global_rows_consumed = reader_->rows_consumed(progress_.reader);
  progress_.total_steps = total_steps_;
  progress_.train_seconds = seconds_before_ + elapsed_seconds();
  auto& prom = run_metrics_->metrics();
  const bool in_background = !o_.sync_checkpoints && std::string(why) == "interval";
  const auto t0 = std::chrono::steady_clock::now();
  if (!in_background) background_->wait();  // one writer of the directory at a time (rotation)
  const auto path = save_training_checkpoint(checkpoint_dir_, *step_, *comm_, progress_, run_config_,
                                             o_.keep_checkpoints, in_background ? background_.get() : nullptr);
  const double blocked = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  prom.record_checkpoint_blocked(blocked);
  if (!in_background) prom.record_checkpoint(blocked);
  if (metrics_) {
    metrics_->write("checkpoint", {{"step", progress_.step},
                                   {"path", path},
                                   {"reason", why},
                                   {"background", in_background},
                                   {"blocked_seconds", blocked}});
  }
  LOG_DEBUG("checkpoint " << path << " (" << why << (in_background ? ", writing in the background" : "") << ")");
}

// ---------------------------------------------------------------------------------------------
// 9. Finish.

int TrainingRun::finish() {
  if (abort_skips_) fail_on_skipped_steps();
  if (stop_ && progress_.step < total_steps_) return exit_preempted();
  return complete();
}

// Too many non-finite updates in a row: the last good state is checkpointed, the run fails.
void TrainingRun::fail_on_skipped_steps() {
  save_checkpoint("skipped-steps");
  bar_->break_line();
  throw Error(std::to_string(progress_.consecutive_skips) +
                  " consecutive updates skipped (non-finite loss or gradient) at step " +
                  std::to_string(progress_.step) + "; the last good state is checkpointed in " + checkpoint_dir_,
              "--max-skipped-steps", "lower --lr, set --grad-clip 1.0, or check the batch rows logged above");
}

// A preemption signal: checkpoint, the marker the Slurm launcher requeues on, exit 42.
int TrainingRun::exit_preempted() {
  save_checkpoint("preempted");
  bar_->break_line();
  LOG_WARN("preempted (signal " << preemption_signal() << ") at step " << progress_.step
                                << ": checkpoint written; requeue with --resume auto");
  if (metrics_) metrics_->write("preempted", {{"step", progress_.step}});
  if (rank_ == 0) write_preempted_marker(o_.run_dir, progress_.step, preemption_signal());
  // No rank exits before the marker exists: mpirun kills the others once the first one is gone.
  comm_->barrier();
  return kExitPreempted;
}

// The run's length reached: final evaluation and checkpoint, export, summary, report.html.
int TrainingRun::complete() {
  evaluate(true);
  save_checkpoint("final");
  if (progress_.best_step < 0) {
    // No evaluation of this run ever gave a finite score: there is no best model to export,
    // and exit 0 would pass for success. The final checkpoint above is kept for inspection.
    bar_->break_line();
    if (metrics_) metrics_->write("failed", {{"step", progress_.step}, {"reason", "no finite STS-B dev score"}});
    throw Error("no STS-B dev evaluation of this run gave a finite score (last: " + std::to_string(last_dev_) +
                    "): the model diverged (NaN/inf weights, e.g. from too high a learning rate) or the dev "
                    "scores are degenerate; nothing is exported, the last state is checkpointed in " + checkpoint_dir_,
                o_.run_dir, "lower --lr, set --grad-clip 1.0, and check --sts-dev; the checkpoint holds the last weights");
  }
  const double train_seconds = seconds_before_ + elapsed_seconds();
  nlohmann::json summary = {
      {"steps", progress_.step},
      {"best_step", progress_.best_step},
      {"best_sts_dev_spearman_x100", progress_.best_score},
      {"initial_sts_dev_spearman_x100", initial_dev_},
      {"skipped_steps", progress_.skipped_total},
      {"train_seconds", train_seconds},
      {"sentences_per_s",
       static_cast<double>((progress_.step - first_step_) * sentences_per_step_) / std::max(1e-9, elapsed_seconds())},
      {"objective", objective_.name()}};
  if (rank_ == 0 && o_.export_model) export_best_model(summary);
  comm_->barrier();
  hold_for_tests("end", rank_);
  if (metrics_) {
    metrics_->write("summary", summary);
    std::ofstream(fs::path(o_.run_dir) / "summary.json") << summary.dump(2) << "\n";
    // report.html from the files just written (report/run_report.h); failing to draw it does not
    // turn a finished run into a failed one: `simcsepp report RUN_DIR` can write it later.
    const std::string report_path = report::default_report_path(o_.run_dir);
    try {
      report::write_run_report(o_.run_dir, report_path);
      LOG_INFO("report: " << report_path);
    } catch (const std::exception& e) {
      LOG_WARN("report.html not written: " << e.what() << "; `simcsepp report " << o_.run_dir << "` writes it later");
    }
  }
  run_metrics_->close();
  bar_->break_line();
  LOG_INFO("done: " << progress_.step << " steps in " << format_duration(train_seconds) << ", best STS-B dev "
                    << progress_.best_score << " at step " << progress_.best_step << ", "
                    << static_cast<int64_t>(summary["sentences_per_s"].get<double>()) << " sentences/s");
  return kExitOk;
}

// Rank 0: RUN/best as RUN/model, a Hugging Face + sentence-transformers directory with its model card.
void TrainingRun::export_best_model(nlohmann::json& summary) {
  auto best = model::load_hf_model((fs::path(o_.run_dir) / "best").string());
  const auto out_dir = (fs::path(o_.run_dir) / "model").string();
  model::export_hf_model(best, inputs_.vocab_path, eval_pooler_, out_dir, &model_source_,
                         /*mlp_trained=*/step_config_.pooler == model::Pooler::kCls && o_.projector == "mlp");
  model::ModelCardFacts card;
  card.base_model_dir = o_.model_dir;
  card.pooler = o_.eval_pooler;
  card.objective = o_.objective;
  card.recipe = {{"global batch (sentences per update)", sentences_per_step_},
                 {"learning rate", o_.lr},
                 {"max length (tokens)", o_.max_len},
                 {"temperature", o_.temperature},
                 {"training pooler", o_.pooler},
                 {"seed", o_.seed},
                 {"ranks", comm_->world_size()},
                 {"objective terms", objective_.name()}};
  if (objective_.dcl) card.recipe["DCL weight"] = o_.dcl_weight;
  if (o_.projector != "mlp") card.recipe["projector"] = o_.projector;
  if (objective_.rtd) {
    card.recipe["RTD weight"] = o_.rtd_weight;
    card.recipe["RTD mask ratio"] = o_.rtd_mask_ratio;
    card.recipe["RTD generator"] = fs::path(o_.generator_dir).filename().string();
  }
  card.corpus = o_.corpus_dir;
  card.corpus_rows = inputs_.manifest.total_rows;
  card.steps = progress_.step;
  card.best_step = progress_.best_step;
  card.best_dev_spearman_x100 = progress_.best_score;
  card.initial_dev_spearman_x100 = initial_dev_;
  model::write_model_card(out_dir, card);
  summary["exported_model"] = out_dir;
}

}  // namespace simcsepp::trainer
