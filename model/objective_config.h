// objective_config.h - which training objective runs, and its hyperparameters (method.md 1-4).
//
// Objectives combine: instance loss (unsupervised SimCSE or supervised with hard negatives),
// optionally with off-dropout negatives and optionally plus lambda * DCL. The CLI spelling is
// parsed here once: "simcse", "off-dropout", "dcl", "simcse++" (= off-dropout + dcl),
// "supervised", "diffcse" (= simcse + rtd), "diffcse++" (= diffcse + off-dropout + dcl, as in the
// SimCSE++ paper), and '+'-joined combinations such as "supervised+dcl" or "off-dropout+dcl".
#pragma once

#include <string>

namespace simcsepp::model {

struct ObjectiveConfig {
  bool supervised = false;   // NLI triplets: anchor, entailment positive, contradiction negative
  bool off_dropout = false;  // negatives from a dropout-off encoder call (method.md 2)
  bool dcl = false;          // + dcl_weight * dimension-wise contrastive loss (method.md 3)
  double temperature = 0.05;
  double pos_ratio = 1.0;             // m: scale of the positive logit under off-dropout
  double dcl_weight = 0.1;            // lambda
  double dcl_temperature = 5.0;       // tau_d
  double hard_negative_weight = 1.0;  // w: multiplies exp(s(h_i, n_j)) of every hard negative
  // DiffCSE (model/rtd_loss.h): + rtd_weight * the conditional replaced-token-detection loss.
  bool rtd = false;
  double rtd_weight = 0.005;     // lambda, the paper's BERT-base value
  double rtd_mask_ratio = 0.3;   // share of tokens masked for the generator

  // Canonical name, e.g. "supervised+off-dropout+dcl" or "simcse".
  std::string name() const;
  // Throws simcsepp::Error naming the option when a value makes no sense.
  void validate() const;
};

// Parses the --objective spelling into the flags (hyperparameters keep their defaults).
// Throws simcsepp::Error with a HINT listing the accepted names.
ObjectiveConfig parse_objective(const std::string& spec);

}  // namespace simcsepp::model
