// dropout_masks.h - where BERT's dropout masks come from.
//
// Default: torch's functional dropout on the default generator (torch::manual_seed reproduces
// it). apply_dropout() is that call plus one thread-local pointer test, so production pays
// nothing for the test mode below.
//
// Test-only keyed mode (testing::KeyedDropoutScope, never reachable from a CLI option): while a
// scope is alive on the thread, the mask of row r of an encoder call at dropout site s is drawn
// from a private generator seeded by hash(seed, update, call, site, view(r), sentence(r)), where
//   call      = index of the dropout-on BertModel::forward call since the scope opened,
//   site      = index of the dropout application within that call (the forward order is fixed:
//               embeddings, then per layer attention probabilities, attention output, FFN output),
//   view(r)   = r / rows_per_view      (the copy: unsupervised SimCSE encodes each sentence twice,
//                                       supervised stacks 3 columns; copies must differ),
//   sentence(r) = first_row + r % rows_per_view   (the sentence's GLOBAL row id).
// Masks are drawn for a canonical length max_length and cut to the call's length, so they do not
// depend on padding. The mask of a sentence is therefore the same whether W ranks each encode
// B rows (first_row = rank * B, rows_per_view = B) or one process encodes the W*B rows
// (first_row = 0, rows_per_view = W*B): data-parallel equivalence can be tested WITH dropout.
// In the keyed mode, attention dropout runs on explicit attention probabilities (softmax of the
// masked scores) instead of inside SDPA, whose internal mask cannot be keyed per row.
//
// Chunked encoding (gradient caching, trainer/chunked_forward_backward.h) encodes a batch in row
// chunks, twice. DropoutChunks tells the keyed mode which rows a chunk's calls hold, so a keyed
// sentence gets the masks it would get unchunked; torch's generator is not its business (the
// trainer snapshots and restores it, trainer/checkpoint/rng_snapshot.h).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace simcsepp::model {

// Which positions a dropout site's tensor has: [B, L, H] hidden states or [B, heads, L, L]
// attention probabilities.
enum class DropoutShape { kHidden, kAttention };

// torch::dropout(x, p, train), or the keyed mask when a KeyedDropoutScope is alive.
torch::Tensor apply_dropout(const torch::Tensor& x, double p, bool train, DropoutShape shape);

// Dropout on rows [0, rows) of x only (dim 0), the rest passed through: the encoder call that
// holds the dropout-on and the dropout-off sequences of an update in one batch (model/
// objective_forward.h, fused_off_dropout). The dropout-on rows are dropped as apply_dropout
// drops a tensor of just those rows - the same generator draws, the same keyed masks - so the
// call's dropout-on rows equal a call on them alone. rows >= x.size(0): apply_dropout(x, p, true);
// rows <= 0: x.
torch::Tensor apply_dropout_rows(const torch::Tensor& x, double p, int64_t rows, DropoutShape shape);

// True while a KeyedDropoutScope is alive on this thread.
bool keyed_dropout_active();

// BertModel::forward calls this once per dropout-on call when keyed_dropout_active().
void begin_keyed_dropout_call();

// One micro-batch encoded in chunks. Between begin(offset, rows) and the next begin() (or the
// end of the object) the encoder calls hold rows [offset, offset + rows) of each view of the
// batch. In the keyed mode the masks are then keyed by those rows' positions in the batch, and
// every chunk (of either pass) gets the call indices of the unchunked calls, so chunked and
// unchunked masks are the same; after the object the next call index is the one the unchunked
// calls leave. Outside the keyed mode it does nothing. Not nestable; training thread only.
class DropoutChunks {
 public:
  DropoutChunks();
  ~DropoutChunks();
  void begin(int64_t offset, int64_t rows);
  DropoutChunks(const DropoutChunks&) = delete;
  DropoutChunks& operator=(const DropoutChunks&) = delete;

 private:
  int64_t base_call_ = -1;  // keyed call counter when the micro-batch began
};

namespace testing {

struct KeyedDropoutOptions {
  uint64_t seed = 0;
  int64_t update = 0;         // the optimizer update the calls belong to
  int64_t first_row = 0;      // global row id of this process's first sentence
  int64_t rows_per_view = 0;  // sentences per view in this process's calls (its local batch)
  int64_t max_length = 0;     // canonical sequence length of the masks (>= every call's length)
};

// TEST ONLY. Keys every dropout mask on this thread while alive; scopes do not nest.
class KeyedDropoutScope {
 public:
  explicit KeyedDropoutScope(const KeyedDropoutOptions& options);
  ~KeyedDropoutScope();
  KeyedDropoutScope(const KeyedDropoutScope&) = delete;
  KeyedDropoutScope& operator=(const KeyedDropoutScope&) = delete;
};

// What one dropout-on site saw and produced: output = input * mask / (1 - p), so equal inputs
// and equal outputs mean equal masks wherever the mask matters (input != 0).
struct DropoutRecord {
  torch::Tensor input, output;
};

// TEST ONLY. While alive, every dropout application with train && p > 0 that goes through
// apply_dropout (embedding and hidden-state sites, and attention in the keyed mode; SDPA's
// internal attention dropout is not visible) is recorded in order, on this thread.
class DropoutRecorder {
 public:
  DropoutRecorder();
  ~DropoutRecorder();
  DropoutRecorder(const DropoutRecorder&) = delete;
  DropoutRecorder& operator=(const DropoutRecorder&) = delete;
  const std::vector<DropoutRecord>& records() const { return records_; }
  void add(DropoutRecord record) { records_.push_back(std::move(record)); }

 private:
  std::vector<DropoutRecord> records_;
};

}  // namespace testing
}  // namespace simcsepp::model
