// rtd_parts.h - DiffCSE's pieces of a training run (--objective diffcse / diffcse++): the frozen
// masked-LM generator, the discriminator it trains and the masking rule of the run's vocabulary,
// loaded and checked against the encoder before the first step.
#pragma once

#include <c10/core/Device.h>

#include <memory>

#include "data/wordpiece_tokenizer.h"
#include "model/bert_config.h"
#include "trainer/train_options.h"
#include "trainer/train_step.h"

namespace simcsepp::trainer {

// Throws simcsepp::Error (naming --generator / --discriminator) when a part does not fit the encoder.
std::shared_ptr<RtdParts> make_rtd_parts(const TrainOptions& options, const data::WordPieceTokenizer& tokenizer,
                                         const model::BertConfig& bert, torch::Device device, int rank);

}  // namespace simcsepp::trainer
