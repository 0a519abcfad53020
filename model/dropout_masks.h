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
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace simcsepp::model {

// Which positions a dropout site's tensor has: [B, L, H] hidden states or [B, heads, L, L]
// attention probabilities.
enum class DropoutShape { kHidden, kAttention };

// torch::dropout(x, p, train), or the keyed mask when a KeyedDropoutScope is alive.
torch::Tensor apply_dropout(const torch::Tensor& x, double p, bool train, DropoutShape shape);

// True while a KeyedDropoutScope is alive on this thread.
bool keyed_dropout_active();

// BertModel::forward calls this once per dropout-on call when keyed_dropout_active().
void begin_keyed_dropout_call();

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

}  // namespace testing
}  // namespace simcsepp::model
