// rank_timings.h - every rank's step time and throughput at a logging step, gathered so rank 0
// can write them into metrics.jsonl (a "ranks" line) and a report can show a straggler.
//
// The step line carries rank 0's own timing only; a rank that is slower than the others (a
// worse GPU, a noisy neighbour, a slow file system) shows there only as everyone's longer step.
// Collective: every rank calls gather_rank_timings for the same step, at the same point of the
// loop (the communicator's contract), from the training thread. On a GPU the values go through
// the device communicator and are read back on the host: one small sync, at logging steps only.
#pragma once

#include <torch/types.h>

#include <vector>

#include "cluster/communicator.h"

namespace simcsepp::trainer {

struct RankTimings {
  std::vector<double> step_seconds;     // [world], in rank order
  std::vector<double> sentences_per_s;  // [world]: the rank's sentences of the step / its step time
};

RankTimings gather_rank_timings(cluster::Communicator& comm, torch::Device device, double step_seconds,
                                double sentences_per_s);

}  // namespace simcsepp::trainer
