// parameter_divergence_mpi.cpp - identical parameters pass; a one-ulp change on one rank is found
// and named.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cluster/parameter_divergence.h"
#include "tests/cluster/mpi/mpi_test_env.h"

namespace simcsepp::cluster::testing {
namespace {

TEST(ParameterDivergence, IdenticalPassAndOneUlpIsFound) {
  std::vector<torch::Tensor> params = {rank_data(41, 0, {5, 3}), rank_data(42, 0, {7}),
                                       rank_data(43, 0, {4}, torch::kBFloat16)};
  std::vector<std::string> names = {"encoder.a", "encoder.b", "head.c"};
  EXPECT_EQ(find_parameter_divergence(comm(), names, params), "");
  const int last = comm().world_size() - 1;
  if (comm().rank() == last) {
    auto flat = params[1].view({-1});
    flat[3] = std::nextafter(flat[3].item<float>(), 1e9f);
  }
  std::string msg = find_parameter_divergence(comm(), names, params);
  EXPECT_NE(msg.find("'encoder.b'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rank(s) " + std::to_string(last)), std::string::npos) << msg;
  EXPECT_NE(msg.find("HINT"), std::string::npos);
}

}  // namespace
}  // namespace simcsepp::cluster::testing
