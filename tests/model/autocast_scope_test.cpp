// autocast_scope_test.cpp - one autocast region around all encoder calls of a forward pass casts
// each Linear weight to bf16 once (one cast node per weight in the autograd graph, whose
// backward casts the gradient back once); a region per call casts it per call. Nested regions
// are no-ops that keep the outer cache; the state is restored on exit, also by an exception.
// Run with CPU autocast (bf16), which the same ATen cache serves as CUDA's. The first test also
// fails if a layer goes through libtorch's nn::Linear::forward (model/linear.h says why).
#include "model/autocast_scope.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>
#include <unordered_set>

#include "model/sentence_encoder.h"

namespace simcsepp::model {
namespace {

BertConfig tiny_config() {
  BertConfig c;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 32;
  c.max_position_embeddings = 16;
  return c;
}

std::string names(const std::vector<torch::autograd::Node*>& nodes) {
  std::string out;
  for (auto* n : nodes) out += (out.empty() ? "" : ", ") + n->name();
  return out;
}

// The weights of every Linear module (the ones autocast casts), with their names.
std::vector<std::pair<std::string, torch::Tensor>> linear_weights(SentenceEncoder& enc) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& m : enc->named_modules()) {
    if (const auto* linear = m.value()->as<torch::nn::Linear>()) out.emplace_back(m.key(), linear->weight);
  }
  return out;
}

// The autograd nodes that take `weight` as an input, reached from `root`.
std::vector<torch::autograd::Node*> consumers(const torch::Tensor& root, const torch::Tensor& weight) {
  const auto accumulator = torch::autograd::impl::try_get_grad_accumulator(weight);
  std::vector<torch::autograd::Node*> found;
  if (!accumulator) return found;
  std::unordered_set<torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> todo = {root.grad_fn().get()};
  while (!todo.empty()) {
    auto* node = todo.back();
    todo.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    for (const auto& edge : node->next_edges()) {
      if (edge.function.get() == accumulator.get()) found.push_back(node);
      todo.push_back(edge.function.get());
    }
  }
  return found;
}

struct Batch {
  torch::Tensor ids, mask;
};
Batch batch() {
  torch::manual_seed(2);
  auto ids = torch::randint(1, 50, {4, 8}, torch::kLong);
  return {ids, torch::ones_like(ids)};
}

// The two encoder calls of SimCSE++ (objective_forward.cpp): 2N sequences with dropout, N
// without, each through BERT and the MLP head.
torch::Tensor two_calls(SentenceEncoder& enc, const Batch& b) {
  const auto on = enc->forward(torch::cat({b.ids, b.ids}), torch::cat({b.mask, b.mask}), Pooler::kCls, true);
  const auto off = enc->forward(b.ids, b.mask, Pooler::kCls, false);
  EXPECT_EQ(on.scalar_type(), torch::kFloat32);  // the objectives always get fp32
  EXPECT_EQ(off.scalar_type(), torch::kFloat32);
  return on.sum() + off.sum();
}

TEST(AutocastScope, OneRegionCastsEachLinearWeightOnceForAllEncoderCalls) {
  torch::manual_seed(1);
  SentenceEncoder enc(tiny_config());
  enc->train();
  const auto b = batch();
  torch::Tensor total;
  {
    AutocastScope autocast(torch::kCPU, true);
    ASSERT_TRUE(autocast.active());
    total = two_calls(enc, b);
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(torch::kCPU));
  const auto weights = linear_weights(enc);
  ASSERT_GE(weights.size(), 13u);  // 6 per layer x 2 + the MLP head
  for (const auto& [name, w] : weights) {
    const auto nodes = consumers(total, w);
    ASSERT_EQ(nodes.size(), 1u) << name << " is used through " << names(nodes);
    EXPECT_NE(nodes[0]->name().find("ToCopyBackward"), std::string::npos)
        << name << ": expected its one bf16 cast, got " << nodes[0]->name();
  }
  total.backward();
  for (const auto& [name, w] : weights) {
    ASSERT_TRUE(w.grad().defined()) << name;
    EXPECT_EQ(w.grad().scalar_type(), torch::kFloat32) << name;  // fp32 master gradient
  }
}

// The control: a region per encoder call (what the encoder used to open itself) casts every
// weight once per call, so the test above can tell the two apart.
TEST(AutocastScope, ARegionPerCallCastsPerCall) {
  torch::manual_seed(1);
  SentenceEncoder enc(tiny_config());
  enc->train();
  const auto b = batch();
  torch::Tensor on, off;
  {
    AutocastScope autocast(torch::kCPU, true);
    on = enc->forward(b.ids, b.mask, Pooler::kCls, true).sum();
  }
  {
    AutocastScope autocast(torch::kCPU, true);
    off = enc->forward(b.ids, b.mask, Pooler::kCls, false).sum();
  }
  const auto total = on + off;
  for (const auto& [name, w] : linear_weights(enc)) EXPECT_EQ(consumers(total, w).size(), 2u) << name;
}

TEST(AutocastScope, DisabledScopeLeavesFp32) {
  torch::manual_seed(1);
  SentenceEncoder enc(tiny_config());
  const auto b = batch();
  const int64_t before = AutocastScope::regions_opened();
  torch::Tensor total;
  {
    AutocastScope autocast(torch::kCPU, false);
    EXPECT_FALSE(autocast.active());
    EXPECT_FALSE(at::autocast::is_autocast_enabled(torch::kCPU));
    total = two_calls(enc, b);
  }
  EXPECT_EQ(AutocastScope::regions_opened(), before);
  for (const auto& [name, w] : linear_weights(enc)) {
    for (auto* node : consumers(total, w)) EXPECT_EQ(node->name().find("ToCopyBackward"), std::string::npos) << name;
  }
}

TEST(AutocastScope, NestedRegionIsANoOpThatKeepsTheOuterCache) {
  torch::manual_seed(1);
  SentenceEncoder enc(tiny_config());
  const auto b = batch();
  const int64_t before = AutocastScope::regions_opened();
  torch::Tensor first, second;
  {
    AutocastScope outer(torch::kCPU, true);
    {
      AutocastScope inner(torch::kCPU, true);
      EXPECT_FALSE(inner.active());
      first = enc->forward(b.ids, b.mask, Pooler::kCls, false).sum();
    }
    EXPECT_TRUE(at::autocast::is_autocast_enabled(torch::kCPU));  // the inner exit did not end it
    second = enc->forward(b.ids, b.mask, Pooler::kCls, false).sum();
  }
  EXPECT_EQ(AutocastScope::regions_opened(), before + 1);
  const auto total = first + second;
  for (const auto& [name, w] : linear_weights(enc)) EXPECT_EQ(consumers(total, w).size(), 1u) << name;
}

TEST(AutocastScope, ExceptionRestoresTheState) {
  const auto dtype = at::autocast::get_autocast_dtype(torch::kCPU);
  try {
    AutocastScope autocast(torch::kCPU, true);
    EXPECT_EQ(at::autocast::get_autocast_dtype(torch::kCPU), torch::kBFloat16);
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(torch::kCPU));
  EXPECT_EQ(at::autocast::get_autocast_dtype(torch::kCPU), dtype);
}

}  // namespace
}  // namespace simcsepp::model
