// thread_read_meter.h - how many bytes the calling thread read from files between start() and
// stop(), as the kernel counts them (Linux task I/O accounting: rchar of /proc/thread-self/io,
// every byte returned by read()/pread(), page-cache hits included).
//
// Why the kernel's count: HDF5 reads metadata (superblock, object headers) besides the dataset
// bytes asked for, and no HDF5 API reports it; the reader's bytes-read metric must include it.
// Per thread, so the trainer's other threads (checkpoints, evaluation files) are not counted.
// Where /proc is unavailable, available() is false and the caller counts what it asked for.
#pragma once

#include <cstdint>

namespace simcsepp::data {

class ThreadReadMeter {
 public:
  ThreadReadMeter();  // starts measuring
  bool available() const { return start_ >= 0; }
  // Bytes read by this thread since construction (or the last stop()), restarting the count;
  // -1 when unavailable. Must be called from the constructing thread.
  int64_t stop();

 private:
  int64_t start_ = -1;
  int64_t own_read_ = 0;  // bytes of the /proc file itself read at start, counted by the kernel too
};

}  // namespace simcsepp::data
