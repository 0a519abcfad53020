// model_parity_tool.cpp - test driver for the Python parity tests (tests/python/model_*.py).
//
//   model_parity_tool run <model_dir> <inputs.safetensors> <outputs.safetensors>
//       inputs: input_ids, attention_mask (I64 [B, L]); outputs (F32, eval mode): last_hidden_state
//       and one [B, H] tensor per pooler (cls, cls_before_pooler, avg, avg_first_last).
//       Prints the load report as JSON on stdout.
//   model_parity_tool export <model_dir> <out_dir> <pooler>
//       load_hf_model + export_hf_model with the directory's vocab.txt.
//   model_parity_tool mlm <generator_dir> <inputs.safetensors> <outputs.safetensors>
//       load_mlm_generator (BertForMaskedLM / DistilBertForMaskedLM), eval mode: "logits" F32
//       [B, L, V] and "fill" I64 [B, L] (argmax) of input_ids/attention_mask.
#include <torch/torch.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "model/hf_checkpoint.h"
#include "model/mlm_generator.h"
#include "model/safetensors_file.h"

using namespace simcsepp::model;

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 4 && args[0] == "run") {
      LoadReport report;
      auto encoder = load_hf_model(args[1], &report);
      encoder->eval();
      const auto inputs = read_safetensors(args[2]).tensors;
      const auto& ids = inputs.at("input_ids");
      const auto& mask = inputs.at("attention_mask");
      torch::NoGradGuard no_grad;
      std::vector<std::pair<std::string, at::Tensor>> outputs{
          {"last_hidden_state", encoder->last_hidden_state(ids, mask)}};
      for (auto p : {Pooler::kCls, Pooler::kClsBeforePooler, Pooler::kAvg, Pooler::kAvgFirstLast}) {
        outputs.emplace_back(pooler_name(p), encoder->forward(ids, mask, p));
      }
      write_safetensors(args[3], outputs);
      std::cout << nlohmann::json{{"missing", report.missing},
                                  {"unexpected", report.unexpected},
                                  {"weights_file", report.weights_file}}
                       .dump()
                << "\n";
      return 0;
    }
    if (args.size() == 4 && args[0] == "mlm") {
      auto generator = load_mlm_generator(args[1]);
      const auto inputs = read_safetensors(args[2]).tensors;
      const auto& ids = inputs.at("input_ids");
      const auto& mask = inputs.at("attention_mask");
      torch::NoGradGuard no_grad;
      write_safetensors(args[3], {{"logits", generator->logits(ids, mask, false)},
                                  {"fill", generator->fill(ids, mask, false)}});
      return 0;
    }
    if (args.size() == 4 && args[0] == "export") {
      auto encoder = load_hf_model(args[1]);
      export_hf_model(encoder, args[1] + "/vocab.txt", parse_pooler(args[3]), args[2]);
      return 0;
    }
    std::cerr
        << "usage: model_parity_tool run <model_dir> <inputs> <outputs> | export <model_dir> <out_dir> <pooler> | mlm "
           "<generator_dir> <inputs> <outputs>\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
