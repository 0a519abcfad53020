"""Parity of simcsepp's FLOP counts (model/flop_count.h) with torch.utils.flop_counter.

The reference is transformers' BertModel (attn_implementation="eager", so attention is two
torch.matmul -> aten.bmm) run under torch.utils.flop_counter.FlopCounterMode, which counts
aten.mm / addmm / bmm (bias adds excluded) - the same matmul-only convention as flop_count.h.
(a) Forward: encoder_forward_flops (flop_count_tool encoder) equals FlopCounterMode's count of
    BertModel(add_pooling_layer=False) for pooler cls_before_pooler/avg, and of BertModel with its
    pooler (dense H x H + tanh on [CLS], the same shape as SimCSE's MLP head) for pooler cls:
    relative difference < 1e-6 asserted, for several configs (tiny, small, MiniLM-L6 and bert-base
    dims), with padding in the attention mask (padded positions are computed, hence counted).
    Measured: identical (relative difference 0) for every config and pooler.
(b) Backward: forward + loss.backward() counts 3.000000 x forward (measured exactly 3 for every
    config: each matmul's backward is two matmuls of the same size, and the embedding backward is a
    scatter-add, not a matmul). Asserted within 1e-6. Informative only: with the embeddings frozen,
    layer 0 needs no input gradient for Q/K/V and the ratio drops slightly below 3 (printed;
    measured 2.979 for bert-base dims, 2.959 MiniLM-L6, 2.94 tiny). simcsepp trains the embeddings.
(c) Training step: training_step_flops (flop_count_tool step) equals FlopCounterMode's count of the
    encoder calls of model/objective_forward.cpp replayed on BertModel (with pooler) followed by
    backward, for simcse, simcse++, supervised (3 columns) and supervised+off-dropout (2 columns).
    Measured: identical (relative difference 0).
Small configs run on CPU; bert-base dims run on the meta device (FlopCounterMode counts shapes, so
meta gives the same numbers without computing - checked on the small configs).
Needs the build's flop_count_tool (SIMCSEPP_BUILD_DIR).
"""
import os
import subprocess
import sys
import tempfile

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import BertConfig, BertModel

REL_TOL = 1e-6
TOOL = os.path.join(os.environ["SIMCSEPP_BUILD_DIR"], "bin", "flop_count_tool")

# name, hidden, layers, heads, intermediate, device
CONFIGS = [
    ("tiny", 4, 2, 2, 8, "cpu"),
    ("small", 64, 2, 4, 128, "cpu"),
    ("minilm-l6", 384, 6, 12, 1536, "meta"),
    ("bert-base", 768, 12, 12, 3072, "meta"),
]
BATCH, SEQ = 8, 32
failures = []


def tool(*args):
    result = subprocess.run([TOOL, *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"flop_count_tool {' '.join(map(str, args))} failed:\n{result.stderr}")
    return float(result.stdout)


def check(name, got, want, tol=REL_TOL, labels=("simcsepp", "torch")):
    rel = abs(got - want) / want
    print(f"  {name:55s} {labels[0]} {got:.6e}  {labels[1]} {want:.6e}  rel diff {rel:.1e}")
    if not rel < tol:
        failures.append(f"{name}: rel diff {rel} >= {tol}")


def inputs(n, device):
    ids = torch.randint(1, 1000, (n, SEQ), device=device)
    mask = torch.ones(n, SEQ, dtype=torch.long, device=device)
    if device != "meta":
        for i in range(n):  # ragged lengths: padding is still computed
            mask[i, 5 + (i * 7) % (SEQ - 5):] = 0
    return ids, mask


def build(hf_config, device, pooling):
    torch.manual_seed(0)
    with torch.device(device):
        return BertModel(hf_config, add_pooling_layer=pooling)


def count(fn):
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def pooled(model, ids, mask, pooling):
    out = model(input_ids=ids, attention_mask=mask)
    return out.pooler_output if pooling else out.last_hidden_state[:, 0]


def replay_step(model, objective, n, columns, device):
    """The encoder calls of encode_views (model/objective_forward.cpp), then backward."""
    supervised = objective.startswith("supervised")
    off_dropout = "off-dropout" in objective or objective == "simcse++"
    cols = [inputs(n, device) for _ in range(min(columns, 3) if supervised else 1)]
    ids = torch.cat([c[0] for c in cols] if supervised else [cols[0][0]] * 2)
    mask = torch.cat([c[1] for c in cols] if supervised else [cols[0][1]] * 2)

    def run():
        model.train()
        loss = pooled(model, ids, mask, True).sum()
        if off_dropout:
            model.eval()  # dropout off: same shapes, same FLOPs
            off_ids, off_mask = (ids, mask) if supervised else cols[0]
            loss = loss + pooled(model, off_ids, off_mask, True).sum()
        loss.backward()

    return count(run)


def main():
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as work:
        for name, hidden, layers, heads, inter, device in CONFIGS:
            print(f"{name}: H {hidden}, {layers} layers, {heads} heads, I {inter}; batch {BATCH} x seq {SEQ} ({device})")
            hf = BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                            intermediate_size=inter, vocab_size=1000, attn_implementation="eager")
            config_json = os.path.join(work, f"{name}.json")
            hf.to_json_file(config_json)
            ids, mask = inputs(BATCH, device)
            for pooling, pooler in ((False, "cls_before_pooler"), (False, "avg"), (True, "cls")):
                model = build(hf, device, pooling)
                model.eval()
                with torch.no_grad():
                    fwd = count(lambda: pooled(model, ids, mask, pooling))
                check(f"{name} forward, pooler {pooler}", tool("encoder", config_json, BATCH, SEQ, pooler), fwd)
                model.train()
                both = count(lambda: pooled(model, ids, mask, pooling).sum().backward())
                ratio = both / fwd
                print(f"  {name} pooler {pooler}: forward+backward / forward = {ratio:.6f}")
                if not abs(ratio - 3.0) < 3.0 * REL_TOL:
                    failures.append(f"{name} {pooler}: fwd+bwd/fwd = {ratio}, not 3")
            # Informative: frozen embeddings skip layer 0's input gradient.
            model = build(hf, device, False)
            model.embeddings.requires_grad_(False)
            frozen = count(lambda: pooled(model, ids, mask, False).sum().backward())
            fwd = tool("encoder", config_json, BATCH, SEQ, "avg")
            print(f"  {name} (informative) embeddings frozen: forward+backward / forward = {frozen / fwd:.6f}")
            if device == "cpu":  # meta == cpu counts
                meta, cpu = build(hf, "meta", False), build(hf, "cpu", False)
                mids, mmask = inputs(BATCH, "meta")
                check(f"{name} forward on meta vs cpu", count(lambda: pooled(meta, mids, mmask, False)),
                      count(lambda: pooled(cpu, ids, mask, False)), labels=("meta", "cpu"))
            model = build(hf, device, True)
            for objective, columns in (("simcse", 1), ("simcse++", 1), ("supervised", 3),
                                       ("supervised+off-dropout", 2)):
                check(f"{name} training step {objective} ({columns} col)",
                      tool("step", config_json, objective, BATCH, SEQ, columns, "cls"),
                      replay_step(model, objective, BATCH, columns, device))
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("OK")


if __name__ == "__main__":
    main()
