// async_checkpoint_writer.h - writes training checkpoints on a background thread while training
// goes on.
//
// The step is blocked only for snapshot_tensors(): a private host copy of every tensor (CPU:
// a clone; CUDA: copies into pinned host memory on the current stream, then one synchronize),
// taken at a step boundary, so later updates cannot reach the file. The write itself
// (checkpoint_file.h: temp + fsync + rename, checksummed) and the rotation to the newest `keep`
// run on the writer's thread. One write is in flight at a time: submit() first waits for the
// previous one. wait() returns once nothing is in flight and rethrows the Error of a write that
// failed (naming the file), so a preemption or the end of training never exits before its
// checkpoint is durable; the destructor waits too (and logs a failure it can no longer throw).
// Memory: one extra host copy of the model and optimizer state while a write is in flight.
#pragma once

#include <exception>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "trainer/checkpoint/checkpoint_file.h"

namespace simcsepp::trainer {

// A host copy of every tensor, independent of the originals (see above).
NamedTensors snapshot_tensors(const NamedTensors& tensors);

struct CheckpointWrite {
  std::string dir;   // created if missing
  std::string path;  // dir/step-<8 digits>.ckpt
  nlohmann::json meta;
  NamedTensors tensors;  // a snapshot: owned by the write from now on
  int keep = 0;          // newest files kept in dir after the write (<= 0: all)
};

class AsyncCheckpointWriter {
 public:
  // on_written(path, seconds) runs on the writer's thread after each successful write.
  explicit AsyncCheckpointWriter(std::function<void(const std::string&, double)> on_written = {});
  ~AsyncCheckpointWriter();
  AsyncCheckpointWriter(const AsyncCheckpointWriter&) = delete;
  AsyncCheckpointWriter& operator=(const AsyncCheckpointWriter&) = delete;

  // Waits for the write in flight (rethrowing its failure), then starts this one.
  void submit(CheckpointWrite write);
  // Returns when no write is in flight; throws the simcsepp::Error of one that failed.
  void wait();

 private:
  std::function<void(const std::string&, double)> on_written_;
  std::thread thread_;
  std::exception_ptr failure_;  // set by the thread, read after join
};

// The synchronous write: the file, then the rotation. Both writers use it.
void write_and_rotate(const CheckpointWrite& write);

}  // namespace simcsepp::trainer
