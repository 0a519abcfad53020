// gradient_reducer.cpp - flat gradient buffers, buckets, and their hook-driven all-reduce.
#include "cluster/gradient_reducer.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

#include <map>

#include "base/error.h"

namespace simcsepp::cluster {

namespace {

class ReadyHook final : public torch::autograd::PostAccumulateGradHook {
 public:
  ReadyHook(GradientReducer* reducer, size_t index) : reducer_(reducer), index_(index) {}
  void operator()(const torch::autograd::Variable&) override { reducer_->on_gradient_ready(index_); }

 private:
  GradientReducer* reducer_;
  size_t index_;
};

}  // namespace

GradientReducer::GradientReducer(Communicator& comm, std::vector<torch::Tensor> params, GradientReducerOptions options)
    : comm_(comm), params_(std::move(params)), options_(options) {
  SIMCSEPP_CHECK(options_.bucket_bytes > 0, "bucket_bytes must be positive");
  SIMCSEPP_CHECK(options_.backward_passes_per_step >= 1, "backward_passes_per_step must be >= 1");
  const size_t n = params_.size();
  grad_views_.resize(n);
  bucket_of_.resize(n);
  passes_seen_.assign(n, 0);
  unused_.assign(n, 0);
  pre_hook_ids_.assign(n, 0);
  // Group by (dtype, device); inside a group, reverse registration order (backward order).
  std::map<std::pair<int, std::string>, std::vector<size_t>> groups;
  for (size_t k = n; k-- > 0;) {
    const auto& p = params_[k];
    groups[{static_cast<int>(p.scalar_type()), p.device().str()}].push_back(k);
  }
  for (const auto& [key, idx] : groups) {
    int64_t total = 0;
    for (size_t i : idx) total += params_[i].numel();
    auto buffer = torch::zeros({total}, params_[idx.front()].options().requires_grad(false));
    const int64_t element = buffer.element_size();
    int64_t offset = 0, bucket_start = 0;
    size_t in_bucket = 0;
    auto close_bucket = [&] {
      if (in_bucket == 0) return;
      Bucket b;
      b.flat = buffer.narrow(0, bucket_start, offset - bucket_start);
      if (options_.comm_dtype && *options_.comm_dtype != buffer.scalar_type()) {
        b.wire = torch::empty_like(b.flat, b.flat.options().dtype(*options_.comm_dtype));
      }
      b.expected = in_bucket;
      buckets_.push_back(std::move(b));
      bucket_start = offset;
      in_bucket = 0;
    };
    for (size_t i : idx) {
      auto& p = params_[i];
      grad_views_[i] = buffer.narrow(0, offset, p.numel()).view(p.sizes());
      bucket_of_[i] = buckets_.size();
      offset += p.numel();
      ++in_bucket;
      if ((offset - bucket_start) * element >= options_.bucket_bytes) close_bucket();
    }
    close_bucket();
    buffers_.push_back(buffer);
  }
  install_views();
  if (options_.overlap && comm_.runs_collectives()) {
    for (size_t i = 0; i < n; ++i) {
      if (!params_[i].requires_grad()) continue;
      torch::autograd::impl::set_post_acc_grad_hooks(params_[i], std::make_unique<ReadyHook>(this, i));
      pre_hook_ids_[i] = params_[i].register_hook([this, i](const torch::Tensor&) { before_accumulate(i); });
    }
    hooks_installed_ = true;
  }
}

GradientReducer::~GradientReducer() {
  if (!hooks_installed_) return;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].requires_grad()) continue;
    torch::autograd::impl::set_post_acc_grad_hooks(params_[i], nullptr);
    params_[i].remove_hook(pre_hook_ids_[i]);
  }
}

void GradientReducer::install_views() {
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (!p.grad().defined() || !p.grad().is_alias_of(grad_views_[i])) p.mutable_grad() = grad_views_[i];
  }
}

void GradientReducer::zero_grad() {
  for (auto& b : buffers_) b.zero_();
  install_views();
  for (auto& b : buckets_) {
    SIMCSEPP_CHECK(!b.work, "zero_grad() while a bucket all-reduce is pending: call reduce() first");
    b.ready = 0;
    b.launched = false;
    b.dirty = false;
  }
  std::fill(passes_seen_.begin(), passes_seen_.end(), 0);
  next_launch_ = 0;
  launched_early_ = 0;
}

void GradientReducer::set_backward_passes_per_step(int passes) {
  SIMCSEPP_CHECK(passes >= 1, "backward_passes_per_step must be >= 1");
  for (const auto& b : buckets_) SIMCSEPP_CHECK(!b.work, "set_backward_passes_per_step() with an all-reduce pending");
  options_.backward_passes_per_step = passes;
}

void GradientReducer::before_accumulate(size_t i) {
  Bucket& b = buckets_[bucket_of_[i]];
  if (!b.launched) return;
  // An extra backward pass: its accumulation must not race the in-flight all-reduce.
  finish(b);
  b.dirty = true;
}

void GradientReducer::on_gradient_ready(size_t i) {
  if (++passes_seen_[i] != options_.backward_passes_per_step || unused_[i]) return;
  if (++buckets_[bucket_of_[i]].ready == buckets_[bucket_of_[i]].expected) {
    const size_t before = next_launch_;
    launch_in_order(/*all=*/false);
    launched_early_ += next_launch_ - before;
  }
}

void GradientReducer::launch_in_order(bool all) {
  while (next_launch_ < buckets_.size()) {
    Bucket& b = buckets_[next_launch_];
    if (!all && b.ready < b.expected) break;
    launch(b);
    b.launched = true;
    ++next_launch_;
  }
}

void GradientReducer::launch(Bucket& b) {
  if (!b.wire.defined()) {
    b.work = comm_.all_reduce_async(b.flat, ReduceOp::kAvg);
    return;
  }
  b.wire.copy_(b.flat);  // rounds to the wire dtype, on the stream that produced the gradients
  b.work = comm_.all_reduce_async(b.wire, ReduceOp::kAvg);
}

void GradientReducer::finish(Bucket& b) {
  if (!b.work) return;
  b.work->wait();
  b.work.reset();
  if (b.wire.defined()) b.flat.copy_(b.wire);
}

void GradientReducer::reduce() {
  for (size_t i = 0; i < params_.size(); ++i) {
    SIMCSEPP_CHECK(params_[i].grad().defined() && params_[i].grad().is_alias_of(grad_views_[i]),
                   "parameter " + std::to_string(i) +
                       "'s .grad() is no longer a view of the reducer's flat buffer. HINT: call "
                       "GradientReducer::zero_grad(), not optimizer.zero_grad() (set_to_none)");
  }
  if (!comm_.runs_collectives()) return;
  launch_in_order(/*all=*/true);
  for (size_t i = 0; i < params_.size(); ++i) {
    if (passes_seen_[i] == 0 && !unused_[i] && hooks_installed_) {
      unused_[i] = 1;
      --buckets_[bucket_of_[i]].expected;
    }
  }
  for (auto& b : buckets_) {
    finish(b);
    if (b.dirty) {  // linear: avg(avg(g1) + g2)
      launch(b);
      finish(b);
    }
  }
}

}  // namespace simcsepp::cluster
