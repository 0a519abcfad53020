// rank_timings.cpp - see rank_timings.h.
#include "trainer/rank_timings.h"

#include <torch/torch.h>

namespace simcsepp::trainer {

RankTimings gather_rank_timings(cluster::Communicator& comm, torch::Device device, double step_seconds,
                                double sentences_per_s) {
  const auto mine =
      torch::tensor({step_seconds, sentences_per_s}, torch::TensorOptions().dtype(torch::kFloat64)).to(device);
  const auto all = comm.all_gather(mine).to(torch::kCPU).contiguous();  // [world * 2], rank order
  const auto* v = all.data_ptr<double>();
  RankTimings t;
  for (int r = 0; r < comm.world_size(); ++r) {
    t.step_seconds.push_back(v[2 * r]);
    t.sentences_per_s.push_back(v[2 * r + 1]);
  }
  return t;
}

}  // namespace simcsepp::trainer
