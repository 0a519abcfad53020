// best_model.h - RUN/best: the weights and config of the best STS-B dev score so far, with
// best.json (step, score). Replaced atomically (a temporary directory, then renames), so a kill
// at any moment leaves the previous best or the new one, never a mix; the run's end exports it.
#pragma once

#include <cstdint>
#include <string>

#include "model/sentence_encoder.h"

namespace simcsepp::trainer {

// Rank 0 only.
void save_best_model(model::SentenceEncoder& encoder, const std::string& run_dir, int64_t step, double score);

}  // namespace simcsepp::trainer
