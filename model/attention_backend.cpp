// attention_backend.cpp - see attention_backend.h.
#include "model/attention_backend.h"

#include <ATen/Context.h>
#include <torch/torch.h>

#include "base/error.h"

namespace simcsepp::model {

AttentionBackend parse_attention_backend(const std::string& name, const std::string& option) {
  if (name == "auto") return AttentionBackend::kAuto;
  if (name == "efficient") return AttentionBackend::kEfficient;
  if (name == "flash") return AttentionBackend::kFlash;
  if (name == "cudnn") return AttentionBackend::kCudnn;
  if (name == "math") return AttentionBackend::kMath;
  throw Error("unknown attention backend '" + name + "'", option, "use auto, efficient, flash, cudnn or math");
}

std::string to_string(AttentionBackend backend) {
  switch (backend) {
    case AttentionBackend::kAuto: return "auto";
    case AttentionBackend::kEfficient: return "efficient";
    case AttentionBackend::kFlash: return "flash";
    case AttentionBackend::kCudnn: return "cudnn";
    case AttentionBackend::kMath: return "math";
  }
  return "?";
}

void select_attention_backend(AttentionBackend backend, c10::Device device) {
  auto& ctx = at::globalContext();
  if (backend == AttentionBackend::kAuto) {
    if (!device.is_cuda()) return;  // CPU: torch's choice, as every CPU test was written against
    ctx.setSDPUseCuDNN(false);      // pytorch issue 196678 (NaN grad_q with a mask, L % 128 == 64)
    ctx.setSDPUseFlash(false);      // takes no explicit mask: never eligible here anyway
    ctx.setSDPUseMemEfficient(true);
    ctx.setSDPUseMath(true);
    return;
  }
  ctx.setSDPUseFlash(backend == AttentionBackend::kFlash);
  ctx.setSDPUseMemEfficient(backend == AttentionBackend::kEfficient);
  ctx.setSDPUseCuDNN(backend == AttentionBackend::kCudnn);
  ctx.setSDPUseMath(backend == AttentionBackend::kMath);
}

std::string probe_attention_backend(c10::Device device, c10::ScalarType dtype, int64_t heads, int64_t head_dim,
                                    int64_t max_len, bool dropout) {
  const auto options = torch::TensorOptions().dtype(dtype).device(device);
  const auto q = torch::zeros({2, heads, max_len, head_dim}, options);
  const auto mask = torch::ones({2, 1, 1, max_len}, torch::TensorOptions().dtype(torch::kBool).device(device));
  int64_t choice = -1;
  try {
    choice = at::_fused_sdp_choice(q, q, q, mask, dropout ? 0.1 : 0.0, /*is_causal=*/false);
  } catch (const c10::Error&) {
    choice = -1;  // "no available kernel": none of the enabled backends can run it
  }
  // at::native sdp::SDPBackend: error -1, math 0, flash 1, efficient 2, cudnn 3, overrideable 4.
  switch (choice) {
    case 0: return "math";
    case 1: return "flash";
    case 2: return "efficient";
    case 3: return "cudnn";
    case 4: return "overrideable";
    default: return "none";
  }
}

std::string configure_attention(AttentionBackend backend, c10::Device device, c10::ScalarType dtype, int64_t heads,
                                int64_t head_dim, int64_t max_len, bool dropout, const std::string& option) {
  select_attention_backend(backend, device);
  const std::string kernel = probe_attention_backend(device, dtype, heads, head_dim, max_len, dropout);
  const std::string shape = std::string(c10::toString(dtype)) + " [batch, " + std::to_string(heads) + ", " +
                            std::to_string(max_len) + ", " + std::to_string(head_dim) + "] with a key-padding mask" +
                            (dropout ? " and dropout" : "") + " on " + device.str();
  if (kernel == "none") {
    throw Error("attention backend '" + to_string(backend) + "' cannot run this model's attention (" + shape + ")",
                option, "use auto, or efficient / math (flash takes no padding mask; cudnn needs a recent GPU)");
  }
  if (backend != AttentionBackend::kAuto && device.is_cuda() && kernel != to_string(backend)) {
    throw Error("attention backend '" + to_string(backend) + "' was asked for but torch would run '" + kernel + "'",
                option, "use auto, efficient or math");
  }
  return kernel;
}

}  // namespace simcsepp::model
