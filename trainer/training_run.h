// training_run.h - `simcsepp train` end to end. A TrainingRun is one start of a run on this rank;
// run() walks its phases in order, top to bottom as they are declared below:
//
//   1. set_up()           options and every input file checked, the cluster, this start's batch shape
//   2. load_model()       the encoder's weights (refusing missing ones) on this rank's device
//   3. open_reader()      the corpus reader (continuing a checkpoint's global order), the run length
//   4. claim_directory()  whose run directory this is and what this start may do there
//   5. build_step()       step configuration, attention kernels, DiffCSE parts, the TrainStep
//   6. resume()           the checkpoint's weights, optimizer, RNG and reader position
//   7. start_monitoring() Prometheus, metrics.jsonl, the parameter divergence check
//   8. train_loop()       updates until the run length, a preemption or too many skipped steps;
//                         inside it, evaluate() (STS-B dev, best model) and save_checkpoint()
//   9. finish()           the exit, one of: fail_on_skipped_steps(), exit_preempted() (checkpoint,
//                         requeue marker, 42) or complete() (final evaluation and checkpoint,
//                         export with model card, summary, report.html)
// Nothing in the run directory changes before phase 4: a start refused in 1-3 leaves it as it was.
//
// Run directory layout:
//   checkpoints/step-XXXXXXXX.ckpt  the last K training checkpoints (checkpoint/training_checkpoint.h)
//   best/                          weights + config.json of the best dev score so far, best.json
//   model/                         the exported best model (Hugging Face + sentence-transformers)
//   metrics.jsonl                  one line per step, per evaluation, per checkpoint, summary
//   summary.json                   best step and score, time, throughput
//   report.html                    charts of metrics.jsonl (report/run_report.h)
//   run.json                       whose directory this is (run_directory.h)
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cluster/bootstrap.h"
#include "cluster/parameter_divergence.h"
#include "data/corpus_reader.h"
#include "data/wordpiece_tokenizer.h"
#include "model/hf_checkpoint.h"
#include "trainer/checkpoint/async_checkpoint_writer.h"
#include "trainer/checkpoint/training_checkpoint.h"
#include "trainer/metrics_log.h"
#include "trainer/progress_line.h"
#include "trainer/run_directory.h"
#include "trainer/run_inputs.h"
#include "trainer/run_metrics.h"
#include "trainer/train_options.h"
#include "trainer/train_step.h"

namespace simcsepp::trainer {

// Returns the process exit code (kExitOk, or kExitPreempted after a preemption checkpoint).
// Throws simcsepp::Error on bad input. Collective: every rank calls it.
int run_training(const TrainOptions& options);

class TrainingRun {
 public:
  explicit TrainingRun(const TrainOptions& options);
  TrainingRun(const TrainingRun&) = delete;
  TrainingRun& operator=(const TrainingRun&) = delete;
  // The phases in order; returns the exit code as run_training.
  int run();

 private:
  // An update whose outputs are still on the device: read one step late (settle()), so a GPU
  // never waits for the host (architecture.md).
  struct PendingStep {
    StepOutput out;
    std::vector<int64_t> rows;
    double data_wait_s = 0;  // blocked in reader->next()
    int64_t sentences = 0;   // this rank's sentences (all columns, all micro-batches)
    int64_t tokens = 0;      // this rank's non-padding tokens
    int queue_depth = 0;     // batches the reader had ready when this step asked for its first
    data::ReaderStats reader_io;                  // the reader's I/O counters after this step's batches
    std::chrono::steady_clock::time_point begin;  // before the step asked for its data
  };

  void set_up();
  void load_model();
  void open_reader();
  void claim_directory();
  void build_step();
  void resume();
  void start_monitoring();
  void train_loop();
  int finish();

  // Inside the loop.
  PendingStep launch_update();
  void settle(const PendingStep& p, std::optional<std::chrono::steady_clock::time_point> end = std::nullopt);
  void settle_pending();
  void record_step(const PendingStep& p, const StepValues& v, std::chrono::steady_clock::time_point end, double rate);
  void log_rank_timings(int64_t step);
  void evaluate(bool candidate);  // candidate = false: the starting model, reported, never selected
  void save_checkpoint(const char* why);
  // At the end (finish() picks one).
  [[noreturn]] void fail_on_skipped_steps();
  int exit_preempted();
  int complete();
  void export_best_model(nlohmann::json& summary);
  double elapsed_seconds() const;

  // 1. set-up
  TrainOptions o_;  // the per-rank batch may be derived on a resume
  model::ObjectiveConfig objective_;
  RunInputs inputs_;
  cluster::ClusterContext cluster_;
  cluster::Communicator* comm_ = nullptr;
  int rank_ = 0;
  torch::Device device_{torch::kCPU};
  std::string resume_from_;
  StartShape shape_;
  // 2. the model
  model::LoadReport model_source_;  // what the export carries unchanged (pretrained pooler, heads)
  model::SentenceEncoder encoder_{nullptr};
  std::optional<data::WordPieceTokenizer> tokenizer_;
  // 3. the reader and the run length
  data::ReaderOptions reader_options_;
  std::optional<data::CorpusReader> reader_;
  int64_t steps_per_epoch_ = 0;
  int64_t total_steps_ = 0;
  // 4. the directory
  nlohmann::json run_config_;
  // 5. the step
  TrainStepConfig step_config_;
  std::unique_ptr<TrainStep> step_;
  Precisions precisions_;
  model::Pooler eval_pooler_ = model::Pooler::kClsBeforePooler;
  int64_t eval_max_len_ = 0;
  // 6. resume
  std::string checkpoint_dir_;
  TrainProgress progress_;
  // 7. monitoring
  std::unique_ptr<RunMetrics> run_metrics_;
  std::unique_ptr<cluster::DivergenceCheck> divergence_;
  std::optional<MetricsLog> metrics_;  // rank 0
  std::unique_ptr<ProgressLine> bar_;
  int64_t sentences_per_step_ = 0;  // global, per update
  double step_flops_ = 0;           // this rank's model FLOPs per update (flop_count.h)
  double device_peak_ = 0;
  // 8. the loop
  std::chrono::steady_clock::time_point start_;
  double seconds_before_ = 0;  // trained before this start (from the checkpoint)
  int64_t first_step_ = 0;
  int64_t kill_after_ = -1;                       // test hook
  std::optional<std::ofstream> batch_rows_log_;  // test hook
  // Interval checkpoints are written in the background (async_checkpoint_writer.h): the step
  // waits only for the snapshot. Any other is made durable before the run goes on.
  std::unique_ptr<AsyncCheckpointWriter> background_;
  std::optional<PendingStep> pending_;
  data::ReaderStats reported_io_;  // what the metrics have counted so far
  // This rank's step time and sentences/s per settled step, until log_rank_timings takes them.
  std::map<int64_t, std::pair<double, double>> rank_samples_;
  bool stop_ = false, abort_skips_ = false;
  bool capture_logged_ = false;  // --cuda-graphs: the capture has been logged
  double last_dev_ = std::numeric_limits<double>::quiet_NaN();
  double initial_dev_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace simcsepp::trainer
