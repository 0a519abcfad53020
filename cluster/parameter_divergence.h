// parameter_divergence.h - detects ranks whose parameters drifted apart.
//
// Data-parallel ranks apply the same averaged gradient with the same optimizer, so their
// parameters must stay bit-identical. Every `every_steps` updates the ranks all-gather one
// fingerprint per parameter - the wrapping int64 sum of its raw bit patterns (exact, so any
// changed bit shows, and order-independent, so it does not depend on reduction order) - and
// compare them with rank 0's. A divergence (a non-deterministic kernel, a rank that skipped an
// update, memory corruption) aborts the job naming the first parameter and the ranks.
// One all-gather of [num_params] int64 per check; the fingerprint runs on the parameters' device.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/communicator.h"

namespace simcsepp::cluster {

// Empty when every rank holds identical parameters, else a message naming the first parameter
// that differs and the ranks that disagree with rank 0. Collective: every rank must call it.
std::string find_parameter_divergence(Communicator& comm, const std::vector<std::string>& names,
                                      const std::vector<torch::Tensor>& params);

class DivergenceCheck {
 public:
  // every_steps <= 0 disables the check.
  DivergenceCheck(Communicator& comm, std::vector<std::string> names, std::vector<torch::Tensor> params,
                  int64_t every_steps);
  // After update `update` (0-based): on every every_steps-th update, compare and abort
  // (Communicator::abort) on divergence. Collective on those updates.
  void after_update(int64_t update);

 private:
  Communicator& comm_;
  std::vector<std::string> names_;
  std::vector<torch::Tensor> params_;
  int64_t every_steps_;
};

}  // namespace simcsepp::cluster
