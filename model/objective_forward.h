// objective_forward.h - the encoder calls of one objective evaluation (method.md 1-4).
//
// Unsupervised: one call on 2N sequences (each sentence twice) with dropout on -> h, h+; with
// off-dropout a second call on the N sentences with every dropout off -> hbar. Both calls carry
// gradient. Supervised (2 or 3 columns: sent0, sent1[, hard_neg]): one dropout-on call on all
// columns; with off-dropout a dropout-off call on the same columns. Dropout is back on for the
// next call by construction (SentenceEncoder's dropout_on is per call, not module state).
//
// fuse_off_dropout (--off-dropout-call fused): the dropout-on and the dropout-off sequences go
// through ONE encoder call - 3N rows unsupervised (the sentences three times), 2 x columns x N
// supervised - with dropout on the leading rows only (SentenceEncoder::forward_rows). The views
// are the separate calls' views: the on rows are dropped with the same draws as a call of just
// those rows, every other op is row-wise, so only the GEMMs' summation over more rows may round
// differently (tests/model/fused_off_dropout_test.cpp). Fewer, larger kernels - whether that is
// faster is measured (docs/performance.md). Not with the BatchNorm projector, whose batch
// statistics are per call: there the calls stay separate.
#pragma once

#include <torch/types.h>

#include <vector>

#include "cluster/communicator.h"
#include "model/bert_config.h"
#include "model/objective.h"
#include "model/objective_config.h"
#include "model/sentence_encoder.h"

namespace simcsepp::model {

// input_ids / attention_mask: one [N, L] int64 tensor per column, on the encoder's device.
ObjectiveLoss forward_objective(SentenceEncoder& encoder, cluster::Communicator& comm, const ObjectiveConfig& config,
                                Pooler pooler, const std::vector<torch::Tensor>& input_ids,
                                const std::vector<torch::Tensor>& attention_mask);

// The views forward_objective feeds to objective_loss (exposed for tests). With the encoder's
// BatchNorm projector (pooler kCls) every call's [CLS] rows go through it, each call one global
// batch: `comm` is then required.
ObjectiveViews encode_views(SentenceEncoder& encoder, const ObjectiveConfig& config, Pooler pooler,
                            const std::vector<torch::Tensor>& input_ids,
                            const std::vector<torch::Tensor>& attention_mask, cluster::Communicator* comm = nullptr,
                            bool fuse_off_dropout = false);

}  // namespace simcsepp::model
