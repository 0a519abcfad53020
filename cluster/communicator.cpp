// communicator.cpp - the default (synchronous) asynchronous all-reduce.
#include "cluster/communicator.h"

namespace simcsepp::cluster {

namespace {
class CompletedWork final : public CollectiveWork {
 public:
  void wait() override {}
};
}  // namespace

std::unique_ptr<CollectiveWork> Communicator::all_reduce_async(at::Tensor& tensor, ReduceOp op) {
  all_reduce(tensor, op);
  return std::make_unique<CompletedWork>();
}

}  // namespace simcsepp::cluster
