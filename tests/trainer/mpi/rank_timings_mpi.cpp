// rank_timings_mpi.cpp - gather_rank_timings under mpirun: every rank gets every rank's step time
// and sentences/s, exactly, in rank order (the "ranks" lines of metrics.jsonl are these arrays).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/cluster/mpi/mpi_test_env.h"
#include "trainer/rank_timings.h"

namespace simcsepp::trainer {
namespace {

using cluster::testing::comm;

TEST(RankTimingsMpi, EveryRankGetsEveryRanksValuesInRankOrder) {
  auto& c = comm();
  ASSERT_GE(c.world_size(), 2) << "run under mpirun -np 2 or more";
  // Values that are not round in binary: the gather must carry the doubles bit for bit.
  auto step_s = [](int r) { return 0.1 * (r + 1) + 1.0 / 3.0; };
  auto rate = [](int r) { return 1000.0 / (r + 7); };
  const RankTimings t = gather_rank_timings(c, torch::kCPU, step_s(c.rank()), rate(c.rank()));
  ASSERT_EQ(t.step_seconds.size(), static_cast<size_t>(c.world_size()));
  ASSERT_EQ(t.sentences_per_s.size(), static_cast<size_t>(c.world_size()));
  for (int r = 0; r < c.world_size(); ++r) {
    EXPECT_EQ(t.step_seconds[r], step_s(r)) << "rank " << r;
    EXPECT_EQ(t.sentences_per_s[r], rate(r)) << "rank " << r;
  }
}

}  // namespace
}  // namespace simcsepp::trainer
