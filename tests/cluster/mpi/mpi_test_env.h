// mpi_test_env.h - shared state of the multi-rank cluster tests: the MPI communicator every
// test uses (built once in mpi_test_main.cpp) and rank-deterministic test data.
#pragma once

#include <torch/types.h>

#include "cluster/mpi_communicator.h"

namespace simcsepp::cluster::testing {

MpiCommunicator& comm();

// A tensor every rank can compute for any rank r: seeded by (tag, r).
torch::Tensor rank_data(int tag, int r, at::IntArrayRef shape, torch::ScalarType dtype = torch::kFloat);

}  // namespace simcsepp::cluster::testing
