"""step_reference.py - the same SimCSE++ step as bench_step.cpp in Python: Hugging Face BertModel
(random init) + SimCSE's MLP head, one call on 2N sequences with dropout, one on N without
(module.eval() for that call, train() afterwards, as the authors' code relies on), off-dropout
loss + 0.1 * DCL, backward, torch.optim.AdamW(fused=True); bf16 autocast on CUDA. Not a test.

    python bench/step_reference.py [--batch 64] [--len 32] [--steps 5] [--warmup 2] [--threads N]
                                   [--compile default|reduce-overhead|...]

Importable: build_step() returns the step callable, time_step() times it; bench/step_anchors.py
uses both for its Python anchor rows.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel

TAU, TAU_DCL, LAMBDA_DCL = 0.05, 5.0, 0.1


def build_step(batch=64, seq_len=32, layers=12, hidden=768, device="cpu", compile_mode=None, seed=0):
    """Model, optimizer and one random batch on `device`; returns step() -> loss tensor.

    compile_mode: None (eager) or a torch.compile mode. torch.compile wraps the BertModel (one
    static-shape graph per training mode: the dropout-on and the dropout-off call); the MLP head,
    the loss and AdamW stay eager. "reduce-overhead" (CUDA graphs) is CUDA only.
    """
    dev = torch.device(device)
    torch.manual_seed(seed)
    cfg = BertConfig(num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=hidden // 64,
                     intermediate_size=4 * hidden, attn_implementation="sdpa")
    bert = BertModel(cfg, add_pooling_layer=False).to(dev).train()
    mlp = torch.nn.Linear(hidden, hidden).to(dev)
    params = list(bert.parameters()) + list(mlp.parameters())
    opt = torch.optim.AdamW(params, lr=3e-5, weight_decay=0.0, fused=True)
    ids = torch.randint(1000, 30000, (batch, seq_len), device=dev)
    mask = torch.ones_like(ids)
    ids2, mask2 = torch.cat([ids, ids]), torch.cat([mask, mask])
    eye = torch.eye(batch, dtype=torch.bool, device=dev)
    labels = torch.arange(hidden, device=dev)
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda")
    encoder = bert
    if compile_mode is not None:
        if compile_mode == "reduce-overhead" and dev.type != "cuda":
            raise ValueError("torch.compile mode reduce-overhead means CUDA graphs: use it on CUDA only")
        encoder = torch.compile(bert, mode=compile_mode, dynamic=False)
    graphs = compile_mode in ("reduce-overhead", "max-autotune")

    def embed(x, m):
        return torch.tanh(mlp(encoder(input_ids=x, attention_mask=m).last_hidden_state[:, 0])).float()

    def step():
        if graphs:
            # One training iteration per step: lets CUDA-graph trees reuse the previous step's outputs.
            torch.compiler.cudagraph_mark_step_begin()
        opt.zero_grad(set_to_none=False)
        with amp:
            on = embed(ids2, mask2)
            bert.eval()
            off = embed(ids, mask)
            bert.train()
        h, hp = on[:batch], on[batch:]
        pos = F.cosine_similarity(h, hp) / TAU
        neg = F.cosine_similarity(off.unsqueeze(1), off.unsqueeze(0), dim=-1) / TAU
        neg = neg.masked_fill(eye, float("-inf"))
        inst = (torch.logsumexp(torch.cat([pos[:, None], neg], 1), 1) - pos).mean()
        z1 = F.batch_norm(h, None, None, training=True)
        z2 = F.batch_norm(hp, None, None, training=True)
        c = z1.T @ z2 / batch / TAU_DCL
        loss = inst + LAMBDA_DCL * F.cross_entropy(c, labels)
        loss.backward()
        opt.step()
        return loss

    return step


def time_step(step, steps, warmup):
    """Runs warmup + steps steps; each ends with loss.item() (a device sync), so every sample is one
    whole step. Returns (ms of each timed step, seconds of the warm-up, last loss)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        step().item()
    warmup_s = time.perf_counter() - t0
    ms, loss = [], float("nan")
    for _ in range(steps):
        t = time.perf_counter()
        loss = step().item()
        ms.append((time.perf_counter() - t) * 1000)
    return ms, warmup_s, loss


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--len", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--compile", default=None, metavar="MODE", help="torch.compile the BertModel with this mode")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    step = build_step(a.batch, a.len, a.layers, a.hidden, a.device, a.compile)
    ms, _, loss = time_step(step, a.steps, a.warmup)
    what = "eager" if a.compile is None else f"torch.compile({a.compile})"
    print(f"python HF reference simcse++ {what} device={a.device} threads={torch.get_num_threads()} batch={a.batch} "
          f"len={a.len} layers={a.layers} hidden={a.hidden}: {statistics.median(ms):.1f} ms/step median "
          f"(mean {statistics.fmean(ms):.1f}, last loss {loss:.4f})")
    if a.device.startswith("cuda"):
        # Peak over the whole run (warm-up included), as bench_step reports it.
        print(f"python peak memory: allocated {torch.cuda.max_memory_allocated() / 2**20:.1f} MiB, "
              f"reserved {torch.cuda.max_memory_reserved() / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
