// blockwise_contrastive_loss_test.cpp - the row-block instance loss (model/
// blockwise_contrastive_loss.h) and objective_loss_backward (model/objective_backward.h) against
// the dense computation with autograd, float64 random views: loss and the gradient of every view
// for the SimCSE, off-dropout and supervised (hard negatives, weight != 1) layouts, blocks of 1
// row, an uneven block and the whole batch; and the block size the budget gives. Multi-rank:
// tests/trainer/chunked/ (blockwise inside gradient caching vs one process, np 2 and 3).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cluster/single_process_communicator.h"
#include "model/blockwise_contrastive_loss.h"
#include "model/contrastive_loss.h"
#include "model/objective.h"
#include "model/objective_backward.h"

namespace simcsepp::model {
namespace {

constexpr int64_t kRows = 7, kDim = 5;

torch::Tensor leaf(int seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  return torch::randn({kRows, kDim}, gen, torch::kDouble).requires_grad_(true);
}

std::vector<torch::Tensor> grads_of(const std::vector<torch::Tensor>& leaves) {
  std::vector<torch::Tensor> g;
  for (const auto& l : leaves) g.push_back(l.grad().defined() ? l.grad().clone() : torch::zeros_like(l));
  return g;
}

double max_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, (a[i] - b[i]).abs().max().item<double>());
  return d;
}

TEST(BlockwiseContrastiveLoss, EqualsTheDenseLossAndGradient) {
  cluster::SingleProcessCommunicator comm;
  struct Layout {
    const char* name;
    bool off_dropout, hard;
  };
  for (const Layout layout : {Layout{"simcse", false, false}, Layout{"off-dropout", true, false},
                              Layout{"supervised", false, true}}) {
    for (const int64_t block : {int64_t{1}, int64_t{3}, kRows}) {
      SCOPED_TRACE(std::string(layout.name) + " block " + std::to_string(block));
      auto make = [&](std::vector<torch::Tensor>& leaves) {
        leaves = {leaf(1), leaf(2), leaf(3), leaf(4)};  // anchor, positive, off / hard
        ContrastiveViews v;
        v.anchor = leaves[0];
        v.positive = leaves[1];
        v.neg_anchor = layout.off_dropout ? leaves[2] : leaves[0];
        v.neg_columns = layout.off_dropout ? leaves[2] : leaves[1];
        if (layout.hard) v.hard_negatives = leaves[3];
        return v;
      };
      ContrastiveOptions o;
      o.pos_ratio = layout.off_dropout ? 0.9 : 1.0;
      o.hard_negative_weight = layout.hard ? 0.7 : 1.0;
      std::vector<torch::Tensor> dense_leaves, block_leaves;
      const auto dense = contrastive_loss(comm, make(dense_leaves), o);
      (dense * 0.5).backward();
      const auto blockwise = contrastive_loss_blockwise_backward(comm, make(block_leaves), o, block, 0.5);
      EXPECT_NEAR(blockwise.item<double>(), dense.item<double>(), 1e-13);
      EXPECT_FALSE(blockwise.requires_grad());
      const auto dg = grads_of(dense_leaves), bg = grads_of(block_leaves);
      EXPECT_GT(dg[0].abs().max().item<double>(), 1e-3);
      EXPECT_LE(max_diff(dg, bg), 1e-13);
    }
  }
}

TEST(ObjectiveLossBackward, BlockwiseAndDenseGiveTheObjectiveAndItsGradient) {
  cluster::SingleProcessCommunicator comm;
  for (const char* objective : {"simcse++", "supervised+dcl", "dcl"}) {
    SCOPED_TRACE(objective);
    const auto cfg = parse_objective(objective);
    auto views = [&](std::vector<torch::Tensor>& leaves) {
      leaves = {leaf(11), leaf(12), leaf(13), leaf(14), leaf(15), leaf(16)};
      ObjectiveViews v;
      v.anchor = leaves[0], v.positive = leaves[1];
      if (cfg.supervised) v.hard_negative = leaves[2];
      if (cfg.off_dropout) v.anchor_off = leaves[3];
      return v;
    };
    std::vector<torch::Tensor> ref_leaves, dense_leaves, block_leaves;
    const auto ref = objective_loss(comm, cfg, views(ref_leaves));
    (ref.total * 0.25).backward();
    const auto dense = objective_loss_backward(comm, cfg, views(dense_leaves), 0.25, 0);
    const auto block = objective_loss_backward(comm, cfg, views(block_leaves), 0.25, /*logits_budget=*/2 * kRows);
    // Dense: the same graph, so the same bits.
    EXPECT_TRUE(torch::equal(dense.total, ref.total.detach()));
    for (size_t i = 0; i < ref_leaves.size(); ++i)
      EXPECT_TRUE(torch::equal(grads_of(ref_leaves)[i], grads_of(dense_leaves)[i])) << "view " << i;
    EXPECT_NEAR(block.total.item<double>(), ref.total.item<double>(), 1e-13);
    EXPECT_NEAR(block.dcl.item<double>(), ref.dcl.item<double>(), 1e-13);
    EXPECT_LE(max_diff(grads_of(ref_leaves), grads_of(block_leaves)), 1e-13);
  }
}

TEST(ObjectiveLossBackward, BlockRowsFollowTheBudget) {
  EXPECT_EQ(instance_block_rows(64, 512, 0), 0);            // no budget: dense
  EXPECT_EQ(instance_block_rows(64, 512, 64 * 512), 0);     // fits exactly: dense
  EXPECT_EQ(instance_block_rows(64, 512, 64 * 512 - 1), 63);
  EXPECT_EQ(instance_block_rows(4096, 32768, 1 << 26), 2048);
  EXPECT_EQ(instance_block_rows(8, 100, 10), 1);  // at least one row per block
}

}  // namespace
}  // namespace simcsepp::model
