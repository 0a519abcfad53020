// attention_backend.h - which kernel runs the encoder's attention, chosen on purpose.
//
// BertSelfAttention calls at::scaled_dot_product_attention with a key-padding mask; torch picks
// among its backends by priority and eligibility. On sm90 torch 2.11 tries cuDNN first for masked
// bf16 attention, and its backward returns NaN grad_q with an explicit mask when L % 128 == 64
// (pytorch issue 196678). So simcsepp decides:
//   auto      - CUDA: memory-efficient (takes a mask and dropout), math as fallback; cuDNN and
//               flash off (flash takes no explicit mask). CPU: torch's own choice, untouched.
//   efficient | flash | cudnn | math - only that backend (no fallback: a backend that cannot
//               run this attention is refused at start, not silently replaced).
// The flags are torch's process-wide SDPA switches (at::globalContext().setSDPUse*), set once at
// start by the commands that run the encoder; probe_attention_backend() asks torch which kernel
// it will actually run for the model's shapes, so the log names the real choice.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>

namespace simcsepp::model {

enum class AttentionBackend { kAuto, kEfficient, kFlash, kCudnn, kMath };

// "auto" | "efficient" | "flash" | "cudnn" | "math"; throws Error naming `option` otherwise.
AttentionBackend parse_attention_backend(const std::string& name, const std::string& option = "--attention-backend");
std::string to_string(AttentionBackend backend);

// Sets torch's SDPA backend switches for `backend` on `device` (see above).
void select_attention_backend(AttentionBackend backend, c10::Device device);

// The kernel torch runs for attention of [batch, heads, max_len, head_dim] in `dtype` with a
// key-padding mask (and dropout if `dropout`): "efficient", "flash", "cudnn", "math", ... or
// "none" when no enabled backend can run it.
std::string probe_attention_backend(c10::Device device, c10::ScalarType dtype, int64_t heads, int64_t head_dim,
                                    int64_t max_len, bool dropout);

// select + probe; throws Error (naming `option`) when the chosen backend cannot run the model's
// attention. Returns the probed kernel name, for the start-up log.
std::string configure_attention(AttentionBackend backend, c10::Device device, c10::ScalarType dtype, int64_t heads,
                                int64_t head_dim, int64_t max_len, bool dropout,
                                const std::string& option = "--attention-backend");

}  // namespace simcsepp::model
