// flop_count.cpp - see flop_count.h.
#include "model/flop_count.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "base/error.h"

namespace simcsepp::model {

namespace {

void require_non_negative(int64_t value, const char* name) {
  if (value < 0) {
    throw Error(std::string("FLOP count: ") + name + " must be >= 0, got " + std::to_string(value), name,
                "pass the padded batch shape of the step");
  }
}

// Whitespace/dash separated words of a device name, upper-cased: "NVIDIA A100-SXM4-80GB" ->
// {NVIDIA, A100, SXM4, 80GB}, so "A10" never matches "A100" or "A10G".
std::vector<std::string> name_words(const std::string& name) {
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return c == '-' || c == '_' ? ' ' : static_cast<char>(std::toupper(c)); });
  std::istringstream in(upper);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

}  // namespace

double encoder_forward_flops(const BertConfig& config, int64_t sequences, int64_t seq_len, Pooler pooler) {
  require_non_negative(sequences, "sequences");
  require_non_negative(seq_len, "seq_len");
  const double n = static_cast<double>(sequences);
  const double l = static_cast<double>(seq_len);
  const double h = static_cast<double>(config.hidden_size);
  const double i = static_cast<double>(config.intermediate_size);
  // Per sequence and layer: Q,K,V,O projections 4 * 2LH^2; Q K^T and probs x V 2 * 2L^2H (summed
  // over heads: heads * 2 * L^2 * (H / heads)); FFN up and down 2 * 2LHI.
  const double per_layer = 8.0 * l * h * h + 4.0 * l * l * h + 4.0 * l * h * i;
  double flops = n * static_cast<double>(config.num_hidden_layers) * per_layer;
  if (pooler == Pooler::kCls) flops += n * 2.0 * h * h;  // MLP head: dense H x H on [CLS]
  return flops;
}

std::vector<EncoderCall> objective_encoder_calls(const ObjectiveConfig& config, int64_t local_batch, int64_t columns) {
  require_non_negative(local_batch, "local_batch");
  if (!config.supervised) {
    std::vector<EncoderCall> calls{{2 * local_batch, true, true}};
    if (config.off_dropout) calls.push_back({local_batch, false, true});
    return calls;
  }
  if (columns < 2) {
    throw Error("objective " + config.name() + " needs 2 or 3 columns, got " + std::to_string(columns), "columns",
                "pass the corpus' column count (sent0, sent1[, hard_neg])");
  }
  const int64_t used = std::min<int64_t>(columns, 3);
  std::vector<EncoderCall> calls{{used * local_batch, true, true}};
  if (config.off_dropout) calls.push_back({used * local_batch, false, true});
  return calls;
}

double training_step_flops(const BertConfig& config, const ObjectiveConfig& objective, int64_t local_batch,
                           int64_t seq_len, int64_t columns, Pooler pooler) {
  double flops = 0.0;
  for (const auto& call : objective_encoder_calls(objective, local_batch, columns)) {
    flops += (call.with_grad ? 3.0 : 1.0) * encoder_forward_flops(config, call.sequences, seq_len, pooler);
  }
  return flops;
}

double rtd_step_flops(const BertConfig& generator, const BertConfig& discriminator, int64_t local_batch,
                      int64_t seq_len) {
  const int64_t sequences = 2 * local_batch;
  const double tokens = static_cast<double>(sequences) * static_cast<double>(seq_len);
  const double g = static_cast<double>(generator.hidden_size);
  const double mlm_head = tokens * 2.0 * g * (g + static_cast<double>(generator.vocab_size));
  const double disc_head = tokens * 2.0 * static_cast<double>(discriminator.hidden_size) * 2.0;
  return encoder_forward_flops(generator, sequences, seq_len, Pooler::kClsBeforePooler) + mlm_head +
         3.0 * (encoder_forward_flops(discriminator, sequences, seq_len, Pooler::kClsBeforePooler) + disc_head);
}

double peak_flops_per_second(const std::string& device_name, bool bf16) {
  const auto words = name_words(device_name);
  const auto has = [&](const char* w) { return std::find(words.begin(), words.end(), w) != words.end(); };
  const auto pick = [&](double bf16_peak, double tf32_peak) { return bf16 ? bf16_peak : tf32_peak; };
  // NVIDIA H100 datasheet / Hopper whitepaper, dense: SXM5 989.4 / 494.7, PCIe 756 / 378 TFLOPS.
  if (has("H100")) {
    if (has("PCIE")) return pick(756e12, 378e12);
    if (has("NVL")) return 0.0;
    if (has("HBM3") || has("SXM") || has("SXM5")) return pick(989.4e12, 494.7e12);
    return 0.0;
  }
  // H200 datasheet: SXM 1,979 / 989 TFLOPS with sparsity -> dense 989.4 / 494.7 (same as H100 SXM).
  if (has("H200")) return has("NVL") ? 0.0 : pick(989.4e12, 494.7e12);
  // A100 datasheet (PCIe and SXM alike): BF16 312, TF32 156 TFLOPS dense.
  if (has("A100")) return pick(312e12, 156e12);
  // L40S datasheet: BF16 362.05, TF32 183 TFLOPS dense (733 / 366 with sparsity).
  if (has("L40S")) return pick(362.05e12, 183e12);
  // L4 datasheet: BF16 242, TF32 120 TFLOPS with sparsity -> 121 / 60 dense.
  if (has("L4")) return pick(121e12, 60e12);
  // A10 datasheet: BF16 125, TF32 62.5 TFLOPS dense (250 / 125 with sparsity).
  if (has("A10")) return pick(125e12, 62.5e12);
  return 0.0;
}

}  // namespace simcsepp::model
