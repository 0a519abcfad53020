// chunked_forward_backward.cpp - see chunked_forward_backward.h.
#include "trainer/chunked_forward_backward.h"

#include <torch/torch.h>

#include <array>
#include <optional>

#include "base/error.h"
#include "model/autocast_scope.h"
#include "model/dropout_masks.h"
#include "model/objective_backward.h"
#include "model/objective_forward.h"
#include "trainer/checkpoint/rng_snapshot.h"

namespace simcsepp::trainer {

namespace {

constexpr size_t kViews = 6;

// Every view of ObjectiveViews, in one fixed order.
std::array<torch::Tensor*, kViews> views_of(model::ObjectiveViews& v) {
  return {&v.anchor, &v.positive, &v.hard_negative, &v.anchor_off, &v.positive_off, &v.hard_negative_off};
}

std::vector<torch::Tensor> rows_of(const std::vector<torch::Tensor>& columns, int64_t offset, int64_t rows) {
  std::vector<torch::Tensor> out;
  out.reserve(columns.size());
  for (const auto& c : columns) out.push_back(c.narrow(0, offset, rows));
  return out;
}

}  // namespace

int64_t chunk_count(int64_t rows, int64_t chunk_size) {
  SIMCSEPP_CHECK(rows >= 1 && chunk_size >= 1, "chunk_count needs rows >= 1 and chunk_size >= 1");
  return (rows + chunk_size - 1) / chunk_size;
}

ChunkedMicroBatch chunked_forward_backward(model::SentenceEncoder& encoder, cluster::Communicator& comm,
                                           const model::ObjectiveConfig& objective, model::Pooler pooler,
                                           const std::vector<torch::Tensor>& input_ids,
                                           const std::vector<torch::Tensor>& attention_mask, int64_t chunk_size,
                                           double loss_scale, bool mixed_precision, PhaseClock& clock,
                                           int64_t logits_budget) {
  SIMCSEPP_CHECK(!input_ids.empty() && input_ids.size() == attention_mask.size(), "column count mismatch");
  const int64_t n = input_ids.front().size(0);
  const int64_t chunks = chunk_count(n, chunk_size);
  const auto device = input_ids.front().device();
  auto chunk_rows = [&](int64_t c) { return std::min(chunk_size, n - c * chunk_size); };
  auto encode_chunk = [&](int64_t c) {
    return model::encode_views(encoder, objective, pooler, rows_of(input_ids, c * chunk_size, chunk_rows(c)),
                               rows_of(attention_mask, c * chunk_size, chunk_rows(c)));
  };
  model::DropoutChunks keyed_chunks;  // the keyed test masks follow the rows (no-op otherwise)

  // Pass 1: every view of every chunk, without autograd; the generators' state before each.
  std::vector<RngSnapshot> before(chunks);
  std::array<std::vector<torch::Tensor>, kViews> parts;
  {
    torch::NoGradGuard no_grad;
    model::AutocastScope autocast(device.type(), mixed_precision);
    for (int64_t c = 0; c < chunks; ++c) {
      before[c] = capture_rng(device);
      keyed_chunks.begin(c * chunk_size, chunk_rows(c));
      auto v = encode_chunk(c);
      const auto fields = views_of(v);
      for (size_t i = 0; i < kViews; ++i)
        if (fields[i]->defined()) parts[i].push_back(*fields[i]);
    }
  }
  const RngSnapshot after = capture_rng(device);

  // The loss once, on leaves standing for the views, and its gradient with respect to them.
  model::ObjectiveViews leaves;
  const auto leaf_fields = views_of(leaves);
  std::vector<torch::Tensor> inputs;
  std::vector<size_t> input_view;  // which view each input is
  for (size_t i = 0; i < kViews; ++i) {
    if (parts[i].empty()) continue;
    SIMCSEPP_CHECK(static_cast<int64_t>(parts[i].size()) == chunks, "a view is missing in some chunk");
    *leaf_fields[i] = torch::cat(parts[i], 0).requires_grad_(true);
    parts[i].clear();
    inputs.push_back(*leaf_fields[i]);
    input_view.push_back(i);
  }
  clock.lap(PhaseClock::kForward);
  // The loss's gradient lands in the leaves' .grad(); views the objective does not read (e.g.
  // dropout-on hard negatives under off-dropout) get none and are not backpropagated.
  const auto loss = model::objective_loss_backward(comm, objective, leaves, loss_scale, logits_budget);
  std::vector<torch::Tensor> grads;
  for (const auto& input : inputs) grads.push_back(input.grad());

  // Pass 2: each chunk again with autograd and the same masks; backpropagate its gradient rows.
  for (int64_t c = 0; c < chunks; ++c) {
    restore_rng(before[c], device);
    keyed_chunks.begin(c * chunk_size, chunk_rows(c));
    model::ObjectiveViews v;
    {
      model::AutocastScope autocast(device.type(), mixed_precision);
      v = encode_chunk(c);
    }
    const auto fields = views_of(v);
    std::vector<torch::Tensor> outputs, output_grads;
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (!grads[k].defined()) continue;
      outputs.push_back(*fields[input_view[k]]);
      output_grads.push_back(grads[k].narrow(0, c * chunk_size, chunk_rows(c)));
    }
    SIMCSEPP_CHECK(!outputs.empty(), "the objective's loss has no gradient with respect to any view");
    torch::autograd::backward(outputs, output_grads);
  }
  restore_rng(after, device);
  clock.lap(PhaseClock::kBackward);

  ChunkedMicroBatch out;
  out.loss = loss;
  out.anchor = leaves.anchor.detach();
  return out;
}

}  // namespace simcsepp::trainer
