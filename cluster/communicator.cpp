// communicator.cpp - the default (synchronous) asynchronous all-reduce; collective listeners.
#include "cluster/communicator.h"

namespace simcsepp::cluster {

namespace {
class CompletedWork final : public CollectiveWork {
 public:
  void wait() override {}
};
}  // namespace

int Communicator::add_collective_listener(CollectiveListener listener) {
  std::lock_guard<std::mutex> lock(listeners_mutex_);
  listeners_.emplace_back(next_listener_id_, std::move(listener));
  listener_count_.store(static_cast<int>(listeners_.size()), std::memory_order_relaxed);
  return next_listener_id_++;
}

void Communicator::remove_collective_listener(int id) {
  std::lock_guard<std::mutex> lock(listeners_mutex_);
  std::erase_if(listeners_, [id](const auto& l) { return l.first == id; });
  listener_count_.store(static_cast<int>(listeners_.size()), std::memory_order_relaxed);
}

void Communicator::notify_collective(const CollectiveTiming& timing) const {
  std::lock_guard<std::mutex> lock(listeners_mutex_);
  for (const auto& [id, listener] : listeners_) listener(timing);
}

std::unique_ptr<CollectiveWork> Communicator::all_reduce_async(at::Tensor& tensor, ReduceOp op) {
  all_reduce(tensor, op);
  return std::make_unique<CompletedWork>();
}

}  // namespace simcsepp::cluster
