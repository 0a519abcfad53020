// flop_count_tool.cpp - prints simcsepp's FLOP counts for tests/python/model_flop_parity.py.
//
//   flop_count_tool encoder <config.json> <sequences> <seq_len> <pooler>
//       encoder_forward_flops
//   flop_count_tool step <config.json> <objective> <local_batch> <seq_len> <columns> <pooler>
//       training_step_flops
// One number on stdout (17 significant digits).
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "base/error.h"
#include "model/bert_config.h"
#include "model/flop_count.h"
#include "model/objective_config.h"

using namespace simcsepp::model;

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    double flops = 0.0;
    if (args.size() == 5 && args[0] == "encoder") {
      flops = encoder_forward_flops(BertConfig::from_json_file(args[1]), std::stoll(args[2]), std::stoll(args[3]),
                                    parse_pooler(args[4]));
    } else if (args.size() == 7 && args[0] == "step") {
      flops = training_step_flops(BertConfig::from_json_file(args[1]), parse_objective(args[2]), std::stoll(args[3]),
                                  std::stoll(args[4]), std::stoll(args[5]), parse_pooler(args[6]));
    } else {
      std::cerr << "usage: flop_count_tool encoder <config.json> <sequences> <seq_len> <pooler>\n"
                   "       flop_count_tool step <config.json> <objective> <local_batch> <seq_len> <columns> <pooler>\n";
      return 2;
    }
    std::printf("%.17g\n", flops);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "flop_count_tool: " << e.what() << "\n";
    return 1;
  }
}
