// parameter_divergence.cpp - bit-pattern fingerprints of parameters compared across ranks.
#include "cluster/parameter_divergence.h"

#include <torch/torch.h>

#include <sstream>

#include "base/error.h"

namespace simcsepp::cluster {

namespace {

// Sum of the raw bits as integers of the same width, accumulated in int64 (wraps, exact).
torch::Tensor fingerprint(const torch::Tensor& p) {
  torch::NoGradGuard no_grad;
  auto flat = p.detach().contiguous().view({-1});
  torch::Tensor bits;
  switch (flat.element_size()) {
    case 1:
      bits = flat.view(torch::kUInt8);
      break;
    case 2:
      bits = flat.view(torch::kInt16);
      break;
    case 4:
      bits = flat.view(torch::kInt32);
      break;
    case 8:
      bits = flat.view(torch::kInt64);
      break;
    default:
      SIMCSEPP_CHECK(false, "unsupported parameter element size");
  }
  return bits.sum(torch::kLong);
}

}  // namespace

std::string find_parameter_divergence(Communicator& comm, const std::vector<std::string>& names,
                                      const std::vector<torch::Tensor>& params) {
  SIMCSEPP_CHECK(names.size() == params.size(), "one name per parameter");
  if (params.empty()) return {};
  std::vector<torch::Tensor> prints;
  prints.reserve(params.size());
  for (const auto& p : params) prints.push_back(fingerprint(p));
  auto mine = torch::stack(prints);                                      // [P] on the parameters' device
  auto all = comm.all_gather(mine).cpu().view({comm.world_size(), -1});  // [W, P]
  auto differs = all.ne(all[0].unsqueeze(0));                            // vs rank 0
  if (!differs.any().item<bool>()) return {};
  auto per_param = differs.any(0);
  const int64_t first = per_param.nonzero()[0][0].item<int64_t>();
  std::ostringstream os;
  os << "parameters diverged across ranks: '" << names[static_cast<size_t>(first)]
     << "' differs from rank 0 on rank(s)";
  auto col = differs.select(1, first);
  for (int64_t r = 0; r < col.size(0); ++r) {
    if (col[r].item<bool>()) os << " " << r;
  }
  os << " (" << per_param.sum().item<int64_t>() << " of " << params.size()
     << " parameters differ). HINT: a rank skipped or repeated an update, or a kernel is "
        "non-deterministic across ranks; check that every rank runs the same binary and config";
  return os.str();
}

DivergenceCheck::DivergenceCheck(Communicator& comm, std::vector<std::string> names, std::vector<torch::Tensor> params,
                                 int64_t every_steps)
    : comm_(comm), names_(std::move(names)), params_(std::move(params)), every_steps_(every_steps) {
  SIMCSEPP_CHECK(names_.size() == params_.size(), "one name per parameter");
}

void DivergenceCheck::after_update(int64_t update) {
  if (every_steps_ <= 0 || comm_.world_size() == 1) return;
  if ((update + 1) % every_steps_ != 0) return;
  std::string failure = find_parameter_divergence(comm_, names_, params_);
  if (!failure.empty()) comm_.abort("after update " + std::to_string(update) + ": " + failure);
}

}  // namespace simcsepp::cluster
