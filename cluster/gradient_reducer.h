// gradient_reducer.h - averages gradients over ranks before the optimizer step, in buckets that
// are launched while backward is still running.
//
// Gradients live in one flat buffer per (dtype, device); every parameter's .grad() is a view
// into it, so the all-reduce is a few large calls instead of one per tensor. The buffer is cut
// into buckets of about `bucket_bytes` (parameters in reverse registration order, the order in
// which backward produces their gradients). A post-accumulate-grad hook on every parameter
// counts the gradients a bucket has received; when a bucket is complete it is all-reduced
// (average) with all_reduce_async - on NCCL queued on the communication stream, overlapping the
// rest of backward; on MPI synchronously inside backward. Buckets are always launched in index
// order, so every rank issues the same collectives in the same order even when gradients
// arrive in a different order or some parameters get none. Parameters that got no gradient in a
// step (e.g. a pooler the objective does not use) stop being waited for from the next step on,
// so they do not hold their bucket - and every later one - back until reduce().
//
// Usage per step:
//   reducer.zero_grad();   // before the forward passes (keeps the views, zeroes the buffer)
//   loss.backward();       // x backward_passes_per_step (gradient accumulation); buckets
//                          // launch when every gradient of the last pass has arrived
//   reducer.reduce();      // launches what is left, waits: every rank holds the average
// More backward passes than announced stay correct: a bucket that receives gradient after its
// early all-reduce waits for that all-reduce first (a pre-accumulate hook orders the streams)
// and is all-reduced again in reduce() - average is linear, so avg(avg(g1) + g2) =
// avg(g1) + avg(g2) - at the cost of the lost overlap.
// Do not use optimizer.zero_grad() (set_to_none would detach .grad from the buffer; reduce()
// detects that and fails). The hooks occupy each parameter's post-accumulate-grad hook slot.
// Threading: the hooks run on the autograd thread while the training thread waits in backward;
// zero_grad/reduce from the training thread.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "cluster/communicator.h"

namespace simcsepp::cluster {

struct GradientReducerOptions {
  int64_t bucket_bytes = 25 * 1024 * 1024;  // PyTorch DDP's default cap
  bool overlap = true;                      // launch buckets from backward hooks
  int backward_passes_per_step = 1;         // micro-batches per update (gradient accumulation)
  // The dtype gradients travel in (--grad-comm-dtype). kBFloat16 halves the bytes of an fp32
  // model's all-reduce: each bucket is rounded into a bf16 copy, reduced, and copied back into the
  // fp32 buffer the optimizer reads (master weights and moments stay fp32). Undefined: as stored.
  // NCCL sums bf16 on the wire; the MPI communicator (CPU) sums in fp32 and rounds the average,
  // so there the bytes on the wire do not shrink.
  std::optional<at::ScalarType> comm_dtype;
};

class GradientReducer {
 public:
  GradientReducer(Communicator& comm, std::vector<torch::Tensor> params, GradientReducerOptions options = {});
  ~GradientReducer();  // removes the hooks
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  void zero_grad();
  void reduce();
  // Backward passes from the next zero_grad() on (e.g. gradient caching runs one per chunk);
  // call between reduce() and zero_grad(), with the same value on every rank.
  void set_backward_passes_per_step(int passes);

  // The flat gradient buffers (one per dtype), e.g. for the global grad norm.
  const std::vector<torch::Tensor>& buffers() const { return buffers_; }
  // Introspection for tests and logs.
  size_t bucket_count() const { return buckets_.size(); }
  // Buckets launched from backward hooks (before reduce()) in the last step.
  size_t buckets_launched_early() const { return launched_early_; }

  // Called by the hooks (autograd thread).
  void before_accumulate(size_t param_index);
  void on_gradient_ready(size_t param_index);

 private:
  struct Bucket {
    torch::Tensor flat;     // a slice of one of buffers_
    torch::Tensor wire;     // flat in options.comm_dtype, when that differs from flat's dtype
    size_t expected = 0;    // parameters in the bucket
    size_t ready = 0;       // parameters with all their passes accumulated this step
    bool launched = false;  // all-reduce issued this step
    bool dirty = false;     // gradient arrived after the all-reduce was issued
    std::unique_ptr<CollectiveWork> work;
  };
  void launch_in_order(bool all);
  void launch(Bucket& b);
  void finish(Bucket& b);  // waits for b's all-reduce; the average is in b.flat
  void install_views();

  Communicator& comm_;
  std::vector<torch::Tensor> params_;
  GradientReducerOptions options_;
  std::vector<torch::Tensor> buffers_;
  std::vector<torch::Tensor> grad_views_;  // per parameter: its slice, shaped like it
  std::vector<size_t> bucket_of_;          // per parameter
  std::vector<char> unused_;               // per parameter: got no gradient in an earlier step
  std::vector<int> passes_seen_;           // per parameter: accumulations this step
  std::vector<unsigned> pre_hook_ids_;     // per parameter: register_hook handle
  std::vector<Bucket> buckets_;
  size_t next_launch_ = 0;
  size_t launched_early_ = 0;
  bool hooks_installed_ = false;
};

}  // namespace simcsepp::cluster
