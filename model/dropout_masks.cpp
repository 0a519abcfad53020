// dropout_masks.cpp - torch's dropout, or per-sentence keyed masks in the test-only mode.
#include "model/dropout_masks.h"

#include <torch/torch.h>

#include <optional>
#include <vector>

namespace simcsepp::model {

namespace {

struct KeyedState {
  testing::KeyedDropoutOptions options;
  int64_t call = -1;  // index of the current dropout-on encoder call
  int64_t site = 0;   // dropout applications so far in that call
  // DropoutChunks: the calls hold rows [chunk_offset, chunk_offset + chunk_rows) of each view
  // (chunk_rows 0: the whole batch, rows_per_view per view).
  int64_t chunk_offset = 0;
  int64_t chunk_rows = 0;
};

thread_local KeyedState* keyed_state = nullptr;
thread_local testing::DropoutRecorder* recorder = nullptr;

uint64_t mix(uint64_t h, uint64_t v) {  // splitmix64 finaliser over h ^ v
  uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

torch::Tensor keyed_dropout(const torch::Tensor& x, double p, DropoutShape shape) {
  const auto& o = keyed_state->options;
  TORCH_CHECK(keyed_state->call >= 0, "keyed dropout: no BertModel call began");
  const int64_t site = keyed_state->site++;
  const int64_t rows = x.size(0);
  const bool chunked = keyed_state->chunk_rows > 0;
  const int64_t per_view = chunked ? keyed_state->chunk_rows : o.rows_per_view;
  const int64_t first = o.first_row + (chunked ? keyed_state->chunk_offset : 0);
  TORCH_CHECK(per_view > 0 && rows % per_view == 0, "keyed dropout: a call of ", rows,
              " rows is not whole views of ", per_view, " rows");
  // Per-row canonical shape: every sequence dimension drawn at max_length, then cut to L.
  std::vector<int64_t> canonical(x.sizes().begin() + 1, x.sizes().end());
  const std::vector<int64_t> length_dims =
      shape == DropoutShape::kHidden ? std::vector<int64_t>{0} : std::vector<int64_t>{1, 2};
  for (auto d : length_dims) {
    TORCH_CHECK(canonical[d] <= o.max_length, "keyed dropout: length ", canonical[d], " > max_length ", o.max_length);
    canonical[d] = o.max_length;
  }
  std::vector<torch::Tensor> masks;
  masks.reserve(rows);
  for (int64_t r = 0; r < rows; ++r) {
    uint64_t key = mix(o.seed, static_cast<uint64_t>(o.update));
    key = mix(key, static_cast<uint64_t>(keyed_state->call));
    key = mix(key, static_cast<uint64_t>(site));
    key = mix(key, static_cast<uint64_t>(r / per_view));
    key = mix(key, static_cast<uint64_t>(first + r % per_view));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(key);
    auto keep = torch::empty(canonical, torch::kDouble).bernoulli_(1.0 - p, gen);
    for (auto d : length_dims) keep = keep.narrow(d, 0, x.size(d + 1));
    masks.push_back(keep);
  }
  const auto mask = torch::stack(masks).to(x.device(), x.scalar_type());
  return x * mask * (1.0 / (1.0 - p));
}

}  // namespace

torch::Tensor apply_dropout(const torch::Tensor& x, double p, bool train, DropoutShape shape) {
  if ((keyed_state == nullptr && recorder == nullptr) || !train || p == 0.0) return torch::dropout(x, p, train);
  auto out = keyed_state != nullptr ? keyed_dropout(x, p, shape) : torch::dropout(x, p, train);
  if (recorder != nullptr) recorder->add({x.detach().clone(), out.detach().clone()});
  return out;
}

torch::Tensor apply_dropout_rows(const torch::Tensor& x, double p, int64_t rows, DropoutShape shape) {
  const int64_t all = x.size(0);
  if (rows >= all) return apply_dropout(x, p, true, shape);
  if (rows <= 0 || p == 0.0) return x;
  return torch::cat({apply_dropout(x.narrow(0, 0, rows), p, true, shape), x.narrow(0, rows, all - rows)}, 0);
}

bool keyed_dropout_active() { return keyed_state != nullptr; }

void begin_keyed_dropout_call() {
  if (keyed_state == nullptr) return;
  ++keyed_state->call;
  keyed_state->site = 0;
}

DropoutChunks::DropoutChunks() {
  if (keyed_state == nullptr) return;
  TORCH_CHECK(keyed_state->chunk_rows == 0, "DropoutChunks: a micro-batch is already being chunked");
  base_call_ = keyed_state->call;
}

DropoutChunks::~DropoutChunks() {
  if (keyed_state == nullptr) return;
  keyed_state->chunk_offset = 0;
  keyed_state->chunk_rows = 0;
}

void DropoutChunks::begin(int64_t offset, int64_t rows) {
  if (keyed_state == nullptr) return;
  TORCH_CHECK(offset >= 0 && rows > 0, "DropoutChunks: bad chunk offset ", offset, " rows ", rows);
  // Every chunk re-runs the same (unchunked) calls on other rows: rewind their call index.
  keyed_state->call = base_call_;
  keyed_state->chunk_offset = offset;
  keyed_state->chunk_rows = rows;
}

namespace testing {

KeyedDropoutScope::KeyedDropoutScope(const KeyedDropoutOptions& options) {
  TORCH_CHECK(keyed_state == nullptr, "KeyedDropoutScope: scopes do not nest");
  TORCH_CHECK(options.rows_per_view > 0 && options.max_length > 0,
              "KeyedDropoutScope needs rows_per_view and max_length");
  keyed_state = new KeyedState{options, -1, 0};
}

KeyedDropoutScope::~KeyedDropoutScope() {
  delete keyed_state;
  keyed_state = nullptr;
}

DropoutRecorder::DropoutRecorder() {
  TORCH_CHECK(recorder == nullptr, "DropoutRecorder: recorders do not nest");
  recorder = this;
}

DropoutRecorder::~DropoutRecorder() { recorder = nullptr; }

}  // namespace testing
}  // namespace simcsepp::model
