// flop_count.h - model FLOPs of the encoder and of one training micro-batch, and the dense peak
// FLOP/s of known GPUs: the two halves of model-FLOP utilisation (MFU = achieved model FLOP/s /
// peak FLOP/s).
//
// Conventions (those of PaLM's and Megatron-LM's MFU):
//   - A multiply-add is 2 FLOPs; an [m, k] x [k, n] matmul is 2*m*k*n FLOPs.
//   - Only matmuls are counted: Linear layers (bias adds excluded), the attention scores Q K^T and
//     probs x V. Elementwise ops, softmax, GELU, tanh, LayerNorm, dropout, the embedding gathers
//     and the pooling means are excluded (they are a few % at most and bandwidth-bound anyway).
//   - Sequences count at their padded length `seq_len`: the GPU computes every padded position
//     (static shapes), and the key-padding mask does not skip work.
//   - "Model" FLOPs: what the algorithm needs, independent of the implementation (fused/flash
//     attention, recomputation) - a re-computed activation is not counted twice.
//   - Backward = 2x forward (gradient w.r.t. the input and w.r.t. the weight of every matmul), so
//     an encoder call that carries gradient costs 3x its forward; a call without gradient costs
//     1x. (Measured against torch.utils.flop_counter on transformers' BertModel by
//     tests/python/model_flop_parity.py, whose docstring has the numbers.)
//   - The loss matmuls (similarity matrices N x N*world x H, DCL's H x H) are not counted: they are
//     below 0.1% of the encoder at any realistic size.
//
// Per sequence of length L through one layer (H hidden, I intermediate):
//   Q, K, V, O projections 4 * 2*L*H*H, scores and probs x V 2 * 2*L*L*H, FFN up/down 2 * 2*L*H*I
//   = 8*L*H^2 + 4*L^2*H + 4*L*H*I; the SimCSE MLP head (pooler "cls" only) adds 2*H*H per sequence.
// No torch here: plain arithmetic on the configs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/bert_config.h"
#include "model/objective_config.h"

namespace simcsepp::model {

// Matmul FLOPs of one forward pass of SentenceEncoder::forward(…, pooler) on `sequences` sequences
// padded to `seq_len` tokens: the BERT encoder layers, plus the MLP head (one dense H x H on each
// sequence's [CLS]) when pooler is kCls - the only pooler that runs it. Every other pooler gives
// the bare encoder (transformers' BertModel without its pooler). Throws simcsepp::Error on
// negative sizes.
double encoder_forward_flops(const BertConfig& config, int64_t sequences, int64_t seq_len,
                             Pooler pooler = Pooler::kCls);

// One SentenceEncoder::forward call of an objective evaluation (model/objective_forward.cpp).
struct EncoderCall {
  int64_t sequences = 0;   // batch dimension of the call
  bool dropout_on = true;  // false: the off-dropout pass
  bool with_grad = true;   // the call's output is in the loss's autograd graph
};

// The encoder calls encode_views() makes for `config` on a local micro-batch of `local_batch`
// rows with `columns` corpus columns:
//   unsupervised (columns ignored: column 0 only): {2N, dropout on}; + off-dropout {N, off};
//   supervised (columns >= 2; a 4th+ column is unused, as in encode_views): {c*N, on} with
//   c = min(columns, 3); + off-dropout {c*N, off}.
// All calls carry gradient. Throws simcsepp::Error on a supervised objective with fewer than 2
// columns or on negative sizes.
std::vector<EncoderCall> objective_encoder_calls(const ObjectiveConfig& config, int64_t local_batch, int64_t columns);

// Model FLOPs of one training micro-batch (forward + backward) on one rank: the sum over
// objective_encoder_calls() of encoder_forward_flops(call.sequences) x (3 with gradient, else 1).
// `pooler` is the training pooler (TrainStepOptions::pooler, default kCls). For a step with
// gradient accumulation, sum over its micro-batches; for the cluster, multiply by the ranks.
double training_step_flops(const BertConfig& config, const ObjectiveConfig& objective, int64_t local_batch,
                           int64_t seq_len, int64_t columns, Pooler pooler = Pooler::kCls);

// DiffCSE's extra model FLOPs of one micro-batch on one rank (objective.rtd): the frozen
// generator's forward on the 2N edited copies (no gradient, 1x: its encoder plus the MLM head,
// a dense H x H and the H x V vocabulary projection on every token) and the discriminator's
// forward and backward (3x: its encoder plus the H x 2 head on every token).
double rtd_step_flops(const BertConfig& generator, const BertConfig& discriminator, int64_t local_batch,
                      int64_t seq_len);

// Dense (no 2:4 sparsity) tensor-core peak FLOP/s of one GPU, from its name as
// cudaGetDeviceProperties / torch.cuda.get_device_name report it; `bf16` selects the BF16 peak,
// otherwise the TF32 peak. 0 when the device is not known (callers then export no MFU unless the
// user gives the peak, --peak-tflops). Known (NVIDIA datasheets / architecture whitepapers, dense):
//   H100 SXM ("NVIDIA H100 80GB HBM3", "... H100 SXM...")  989.4e12 bf16, 494.7e12 tf32
//   H100 PCIe ("NVIDIA H100 PCIe")                          756e12,       378e12
//   H200 SXM ("NVIDIA H200")                                989.4e12,     494.7e12
//   A100, every form factor ("NVIDIA A100-SXM4-80GB", ...)  312e12,       156e12
//   L40S                                                     362.05e12,    183e12
//   L4                                                       121e12,       60e12
//   A10 (not the A10G, whose figures NVIDIA does not publish) 125e12,     62.5e12
// Unknown on purpose (0): H100 NVL, H200 NVL, GH200, A10G, L40, and everything else.
// Note: fp32 matmuls use TF32 only when enabled (libtorch's default for cuBLAS matmuls is off,
// and simcsepp does not turn it on); without TF32 an fp32 run's MFU against this peak is far
// below what the card can do in plain fp32, so MFU is meaningful mainly for bf16 runs.
double peak_flops_per_second(const std::string& device_name, bool bf16);

}  // namespace simcsepp::model
