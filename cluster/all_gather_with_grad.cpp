#include "cluster/all_gather_with_grad.h"

#include <torch/torch.h>

namespace simcsepp::cluster {

namespace {

class AllGatherFunction : public torch::autograd::Function<AllGatherFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& local, Communicator* comm) {
    ctx->saved_data["comm"] = reinterpret_cast<int64_t>(comm);
    return comm->all_gather(local.contiguous());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* comm = reinterpret_cast<Communicator*>(ctx->saved_data["comm"].toInt());
    return {comm->reduce_scatter(grads[0].contiguous()), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor all_gather_with_grad(Communicator& comm, const torch::Tensor& local) {
  if (!comm.runs_collectives()) return local;
  return AllGatherFunction::apply(local, &comm);
}

}  // namespace simcsepp::cluster
