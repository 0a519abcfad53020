// objective_config.cpp - parsing and validation of the --objective spelling.
#include "model/objective_config.h"

#include <cmath>
#include <sstream>

#include "base/error.h"

namespace simcsepp::model {

namespace {

const char* kObjectiveHint =
    "use simcse, off-dropout, dcl, simcse++ (= off-dropout+dcl), supervised, diffcse (= simcse+rtd) or "
    "diffcse++ (= diffcse+off-dropout+dcl), or join them with '+', e.g. supervised+dcl";

}  // namespace

std::string ObjectiveConfig::name() const {
  std::string n = supervised ? "supervised" : "simcse";
  if (off_dropout) n += "+off-dropout";
  if (dcl) n += "+dcl";
  if (rtd) n += "+rtd";
  return n;
}

void ObjectiveConfig::validate() const {
  auto positive = [](double v, const char* key, const char* hint) {
    if (!(std::isfinite(v) && v > 0)) {
      std::ostringstream os;
      os << key << " must be a positive finite number, got " << v;
      throw Error(os.str(), key, hint);
    }
  };
  positive(temperature, "--temperature", "the paper uses 0.05");
  positive(pos_ratio, "--pos-ratio", "SimCSE++ uses 1.0; the off-dropout-only script 0.9");
  positive(dcl_temperature, "--dcl-temperature", "the paper uses 5");
  positive(hard_negative_weight, "--hard-negative-weight", "1 weighs hard negatives like the others");
  if (!(std::isfinite(dcl_weight) && dcl_weight >= 0)) {
    throw Error("--dcl-weight must be >= 0, got " + std::to_string(dcl_weight), "--dcl-weight", "the paper uses 0.1");
  }
  if (rtd) {
    if (supervised) {
      throw Error("replaced-token detection (DiffCSE) is an unsupervised objective", "--objective",
                  "use diffcse or diffcse++ on a text corpus");
    }
    if (!(std::isfinite(rtd_weight) && rtd_weight >= 0)) {
      throw Error("--rtd-weight must be >= 0, got " + std::to_string(rtd_weight), "--rtd-weight",
                  "DiffCSE uses 0.005 for BERT-base");
    }
    if (!(rtd_mask_ratio > 0 && rtd_mask_ratio <= 1)) {
      throw Error("--rtd-mask-ratio must be in (0, 1], got " + std::to_string(rtd_mask_ratio), "--rtd-mask-ratio",
                  "DiffCSE masks 0.3 of the tokens for BERT-base");
    }
  }
}

ObjectiveConfig parse_objective(const std::string& spec) {
  ObjectiveConfig cfg;
  if (spec.empty()) throw Error("empty objective", "--objective", kObjectiveHint);
  std::stringstream ss(spec);
  std::string part;
  while (std::getline(ss, part, '+')) {
    // "simcse++" splits into "simcse", "", "" (and "diffcse++" into "diffcse", "", "").
    if (part.empty()) {
      if (spec.find("simcse++") == std::string::npos && spec.find("diffcse++") == std::string::npos) {
        throw Error("malformed objective '" + spec + "'", "--objective", kObjectiveHint);
      }
      cfg.off_dropout = true;
      cfg.dcl = true;
    } else if (part == "simcse" || part == "unsup" || part == "unsupervised") {
    } else if (part == "off-dropout" || part == "off_dropout") {
      cfg.off_dropout = true;
    } else if (part == "dcl") {
      cfg.dcl = true;
    } else if (part == "diffcse" || part == "rtd") {
      cfg.rtd = true;
    } else if (part == "supervised" || part == "sup") {
      cfg.supervised = true;
    } else {
      throw Error("unknown objective '" + part + "' in '" + spec + "'", "--objective", kObjectiveHint);
    }
  }
  return cfg;
}

}  // namespace simcsepp::model
