// seed_groups_test.cpp - which runs differ only in their seed, and mean / std over seeds.
#include "report/seed_groups.h"

#include <gtest/gtest.h>

#include <cmath>

namespace simcsepp::report {
namespace {

RunRecord run(const std::string& dir, const std::string& objective, int seed, double lr = 3e-5) {
  RunRecord r;
  r.dir = dir;
  r.history.config = nlohmann::json{{"kind", "config"}, {"time", 1.0 + seed}, {"objective", objective},  {"seed", seed},
                                    {"lr", lr},         {"run_dir", dir},     {"run", {{"run_id", dir}}}};
  r.identity = nlohmann::json{{"run_id", dir},          {"created", dir},       {"options_sha256", dir},
                              {"corpus_sha256", "abc"}, {"model", {{"h", 32}}}, {"global_batch", 16}};
  return r;
}

TEST(SeedGroups, RunsThatDifferOnlyInSeedShareAGroup) {
  std::vector<RunRecord> runs = {run("/r/a", "simcse++", 1), run("/r/b", "simcse", 1), run("/r/c", "simcse++", 2),
                                 run("/r/d", "simcse++", 3, 1e-4)};
  RunRecord no_config;
  no_config.dir = "/r/e";
  runs.push_back(no_config);
  runs.push_back(run("/r/f", "simcse++", 4));
  runs.back().identity->at("corpus_sha256") = "other";  // another corpus: not the same run
  const auto groups = group_by_seed(runs);
  ASSERT_EQ(groups.size(), 5u);
  EXPECT_EQ(groups[0].objective, "simcse++");
  EXPECT_EQ(groups[0].runs, (std::vector<size_t>{0, 2}));
  EXPECT_EQ(groups[1].runs, (std::vector<size_t>{1}));
  EXPECT_EQ(groups[1].objective, "simcse");
  EXPECT_EQ(groups[2].runs, (std::vector<size_t>{3})) << "another learning rate";
  EXPECT_EQ(groups[3].runs, (std::vector<size_t>{4})) << "no config line: a group of its own";
  EXPECT_TRUE(groups[3].config.is_null());
  EXPECT_EQ(groups[4].runs, (std::vector<size_t>{5}));
}

TEST(SeedGroups, MeanAndSampleStd) {
  const MeanStd m = mean_std({80.0, 82.0, 84.5});
  EXPECT_EQ(m.n, 3u);
  EXPECT_DOUBLE_EQ(m.mean, (80.0 + 82.0 + 84.5) / 3);
  const double mu = m.mean;
  EXPECT_DOUBLE_EQ(m.std, std::sqrt(((80 - mu) * (80 - mu) + (82 - mu) * (82 - mu) + (84.5 - mu) * (84.5 - mu)) / 2));
  const MeanStd one = mean_std({81.0, std::nan("")});
  EXPECT_EQ(one.n, 1u) << "non-finite scores (a diverged run) are not averaged";
  EXPECT_EQ(one.mean, 81.0);
  EXPECT_TRUE(std::isnan(one.std));
  EXPECT_TRUE(std::isnan(mean_std({}).mean));
}

TEST(SeedGroups, DifferingKeys) {
  const nlohmann::json a = {{"lr", 1}, {"objective", "x"}, {"only_a", 1}};
  const nlohmann::json b = {{"lr", 2}, {"objective", "x"}, {"only_b", 1}};
  EXPECT_EQ(differing_keys(a, b), (std::vector<std::string>{"lr", "only_a", "only_b"}));
  EXPECT_TRUE(differing_keys(a, a).empty());
}

}  // namespace
}  // namespace simcsepp::report
