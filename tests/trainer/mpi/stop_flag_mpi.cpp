// stop_flag_mpi.cpp - the stop request of one rank (a signal that reached it alone) stops every
// rank at the same update: the persistent device flag goes into the update's one kMax
// all-reduce with the non-finite flag, so no rank runs an update the others do not.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/sentence_encoder.h"
#include "tests/cluster/mpi/mpi_test_env.h"
#include "tests/trainer/tiny_step_fixture.h"
#include "trainer/train_step.h"

namespace simcsepp::trainer {
namespace {

TEST(StopFlagMpi, OneRanksRequestStopsEveryRankAtTheSameUpdate) {
  auto& c = cluster::testing::comm();
  torch::manual_seed(31);
  model::SentenceEncoder enc(testing::tiny_step_config());
  TrainStepConfig sc;
  sc.objective = model::parse_objective("simcse++");
  sc.total_steps = 10;
  TrainStep step(enc, sc, c);
  const std::vector<std::vector<data::TokenBatch>> batch = {{testing::random_token_batch(4, 8, 40 + c.rank())}};
  const int asker = c.world_size() - 1;
  for (int u = 0; u < 5; ++u) {
    if (u == 2 && c.rank() == asker) step.request_stop();
    const auto v = step.step(batch).read();
    EXPECT_EQ(v.stop, u >= 2) << "rank " << c.rank() << " update " << u;
    EXPECT_FALSE(v.skipped);
  }
}

}  // namespace
}  // namespace simcsepp::trainer
