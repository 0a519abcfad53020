// run_inputs.h - the first phase of a training run: every input file read and checked against the
// options and each other (model directory, vocabulary, corpus manifest, STS-B dev file) before any
// rank starts work, so a wrong path or a mismatched corpus fails in seconds with the file named.
#pragma once

#include <string>

#include "data/manifest.h"
#include "data/sts_readers.h"
#include "model/bert_config.h"
#include "model/objective_config.h"
#include "trainer/train_options.h"

namespace simcsepp::trainer {

struct RunInputs {
  data::Manifest manifest;
  std::string vocab_path;  // the model's vocab.txt
  model::BertConfig bert;
  data::StsPairSet dev_pairs;  // STS-B dev: at least two pairs with different gold scores
};

// Throws simcsepp::Error naming the file and what to do.
RunInputs check_run_inputs(const TrainOptions& options, const model::ObjectiveConfig& objective);

}  // namespace simcsepp::trainer
