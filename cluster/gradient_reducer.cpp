#include "cluster/gradient_reducer.h"

#include <torch/torch.h>

#include <map>

namespace simcsepp::cluster {

GradientReducer::GradientReducer(Communicator& comm, std::vector<torch::Tensor> params)
    : comm_(comm), params_(std::move(params)) {
  // One flat buffer per (dtype, device); each param's grad becomes a view of its slice.
  std::map<std::pair<int, std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    groups[{static_cast<int>(p.scalar_type()), p.device().str()}].push_back(i);
  }
  for (const auto& [key, idx] : groups) {
    int64_t total = 0;
    for (size_t i : idx) total += params_[i].numel();
    auto buffer = torch::zeros({total}, params_[idx.front()].options().requires_grad(false));
    int64_t offset = 0;
    for (size_t i : idx) {
      auto& p = params_[i];
      p.mutable_grad() = buffer.narrow(0, offset, p.numel()).view(p.sizes());
      offset += p.numel();
    }
    buffers_.push_back(buffer);
  }
}

void GradientReducer::zero_grad() {
  for (auto& b : buffers_) b.zero_();
}

void GradientReducer::reduce() {
  if (comm_.world_size() == 1) return;
  for (auto& b : buffers_) comm_.all_reduce(b, ReduceOp::kAvg);
}

}  // namespace simcsepp::cluster
