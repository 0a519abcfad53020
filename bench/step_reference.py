"""step_reference.py - the same SimCSE++ step as bench_step.cpp in Python: Hugging Face BertModel
(random init) + SimCSE's MLP head, one call on 2N sequences with dropout, one on N without
(module.eval() for that call, train() afterwards, as the authors' code relies on), off-dropout
loss + 0.1 * DCL, backward, torch.optim.AdamW(fused=True). Not a test.

    python bench/step_reference.py [--batch 64] [--len 32] [--steps 5] [--warmup 2] [--threads N]
"""
import argparse
import time

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=64)
p.add_argument("--len", type=int, default=32)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--layers", type=int, default=12)
p.add_argument("--hidden", type=int, default=768)
p.add_argument("--device", default="cpu")
p.add_argument("--threads", type=int, default=0)
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
dev = torch.device(a.device)
torch.manual_seed(0)
cfg = BertConfig(num_hidden_layers=a.layers, hidden_size=a.hidden, num_attention_heads=a.hidden // 64,
                 intermediate_size=4 * a.hidden, attn_implementation="sdpa")
bert = BertModel(cfg, add_pooling_layer=False).to(dev).train()
mlp = torch.nn.Linear(a.hidden, a.hidden).to(dev)
params = list(bert.parameters()) + list(mlp.parameters())
opt = torch.optim.AdamW(params, lr=3e-5, weight_decay=0.0, fused=True)
ids = torch.randint(1000, 30000, (a.batch, a.len), device=dev)
mask = torch.ones_like(ids)
tau, tau_d, lam = 0.05, 5.0, 0.1
amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda")


def embed(x, m):
    return torch.tanh(mlp(bert(input_ids=x, attention_mask=m).last_hidden_state[:, 0])).float()


def step():
    opt.zero_grad(set_to_none=False)
    with amp:
        on = embed(torch.cat([ids, ids]), torch.cat([mask, mask]))
        bert.eval()
        off = embed(ids, mask)
        bert.train()
    h, hp = on[: a.batch], on[a.batch:]
    pos = F.cosine_similarity(h, hp) / tau
    neg = F.cosine_similarity(off.unsqueeze(1), off.unsqueeze(0), dim=-1) / tau
    neg = neg.masked_fill(torch.eye(a.batch, dtype=torch.bool, device=dev), float("-inf"))
    inst = (torch.logsumexp(torch.cat([pos[:, None], neg], 1), 1) - pos).mean()
    z1 = F.batch_norm(h, None, None, training=True)
    z2 = F.batch_norm(hp, None, None, training=True)
    c = z1.T @ z2 / a.batch / tau_d
    loss = inst + lam * F.cross_entropy(c, torch.arange(c.shape[0], device=dev))
    loss.backward()
    opt.step()
    return loss


for _ in range(a.warmup):
    step().item()
if dev.type == "cuda":
    torch.cuda.synchronize()
t0 = time.perf_counter()
for _ in range(a.steps):
    loss = step().item()
if dev.type == "cuda":
    torch.cuda.synchronize()
ms = (time.perf_counter() - t0) * 1000 / a.steps
print(f"python HF reference simcse++ device={a.device} threads={torch.get_num_threads()} batch={a.batch} "
      f"len={a.len} layers={a.layers} hidden={a.hidden}: {ms:.1f} ms/step (last loss {loss:.4f})")
if dev.type == "cuda":
    # Peak over the whole run (warm-up included), as bench_step reports it.
    print(f"python peak memory: allocated {torch.cuda.max_memory_allocated() / 2**20:.1f} MiB, "
          f"reserved {torch.cuda.max_memory_reserved() / 2**20:.1f} MiB")
