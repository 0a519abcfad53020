"""cuda_parity.py - simcsepp on CUDA against transformers on CUDA (device check, docs/gpu.md).

A random BERT-base-sized encoder (12 x 768, 12 heads, 3072, vocabulary 30522; LayerNorms and
biases perturbed so a wrong one shows; dropout 0 so both sides compute the same function) is made
here, on the machine that runs the check, and saved for simcsepp's objective_parity_tool. For fp32
and for bf16 autocast, both sides run the same SimCSE++ step on the device: forward of the
dropout-on pair and the dropout-off view (cls pooler: BERT + MLP + tanh), the SimCSE++ loss
(off-dropout + 0.1 DCL, fp32, the reference of objective_parity.py) and backward.

Compared (C++ vs transformers, same device, same precision):
  fp32: last_hidden_state and pooled (all positions) max |diff| <= 1e-4; loss |diff| <= 1e-4 (1 + |loss|);
        every parameter's gradient ||diff|| / max(||ref||, 1e-4 ||whole gradient||) <= 1e-4. A control (layer_norm_eps 1e-3
        instead of 1e-12 on the C++ side) must exceed 1e-4, so the check can fail.
  bf16: last_hidden_state and pooled ||diff|| / ||ref|| <= 2e-2; loss relative diff <= 2e-2; the
        gradient of all parameters together ||diff|| / ||ref|| <= 2e-2 (the worst single
        parameter is printed, not gated: bf16 rounding differs between two implementations).
TF32 is off on both sides (libtorch's and torch's default; set explicitly here).

    python tests/python/cuda_parity.py [--device cuda] [--size base|tiny] [--json results.json]
--device cpu --size tiny runs the fp32 half on the CPU (plumbing check without a GPU).
Needs SIMCSEPP_BUILD_DIR/bin/objective_parity_tool.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import objective_parity as ref  # noqa: E402

SIZES = {
    "base": dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512),
    "tiny": dict(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=128, max_position_embeddings=64),
}
FP32_TOL, BF16_TOL = 1e-4, 2e-2
SPEC = {"objective": "simcse++", "temperature": 0.05, "pos_ratio": 1.0, "dcl_weight": 0.1,
        "dcl_temperature": 5.0, "hard_negative_weight": 1.0, "pooler": "cls", "columns": 1}


def make_model(work, size):
    torch.manual_seed(0)
    cfg = BertConfig(**SIZES[size], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                     layer_norm_eps=1e-12, attn_implementation="sdpa")
    bert = BertModel(cfg, add_pooling_layer=False)
    mlp = torch.nn.Linear(cfg.hidden_size, cfg.hidden_size)
    with torch.no_grad():  # random init leaves LayerNorm at 1/0 and biases at 0
        for name, p in bert.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    tensors = {"bert." + k: v.contiguous() for k, v in bert.state_dict().items() if "position_ids" not in k}
    tensors["mlp.dense.weight"] = mlp.weight.detach().contiguous()
    tensors["mlp.dense.bias"] = mlp.bias.detach().contiguous()
    model_dir = os.path.join(work, "model")
    os.makedirs(model_dir)
    save_file(tensors, os.path.join(model_dir, "model.safetensors"))
    cfg.to_json_file(os.path.join(model_dir, "config.json"))
    return model_dir, bert, mlp


def inputs(n, length, vocab):
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(4, length + 1, (n,), generator=g)
    lengths[0] = length  # one full row; random first tokens keep the embeddings apart (no
    # shared [CLS]): near-parallel embeddings make the loss's gradient ill-conditioned
    mask = (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)).long()
    ids = torch.randint(1000, vocab, (n, length), generator=g) * mask
    return ids, mask


def reference(bert, mlp, ids, mask, device, bf16):
    """transformers side: views, loss (fp32, on the CPU as objective_parity.py has it), backward."""
    bert.zero_grad(set_to_none=True)
    mlp.zero_grad(set_to_none=True)
    ids, mask = ids.to(device), mask.to(device)
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16)

    def pooled():
        with amp:
            out = bert(input_ids=ids, attention_mask=mask).last_hidden_state
            return torch.tanh(mlp(out[:, 0])).float()

    views = {"anchor": pooled(), "positive": pooled(), "anchor_off": pooled()}
    total, _, _ = ref.reference(SPEC, {k: v.cpu() for k, v in views.items()})
    total.backward()
    with torch.no_grad(), amp:
        out = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        pool = torch.tanh(mlp(out[:, 0]))
    grads = {"bert." + k: p.grad for k, p in bert.named_parameters()}
    grads.update({"mlp.dense." + k: p.grad for k, p in mlp.named_parameters()})
    grads = {k: (g if g is not None else torch.zeros_like(p)).float().cpu()
             for (k, g), p in zip(grads.items(), list(bert.parameters()) + list(mlp.parameters()))}
    return total.item(), out.float().cpu(), pool.float().cpu(), grads


def simcsepp(tool, model_dir, ids, mask, device, precision, work):
    d = tempfile.mkdtemp(dir=work)
    ids.numpy().astype("<i8").tofile(os.path.join(d, "ids_0.i64"))
    mask.numpy().astype("<i8").tofile(os.path.join(d, "mask_0.i64"))
    spec = dict(SPEC, model_dir=model_dir, shape=list(ids.shape), device=device, precision=precision,
                write_outputs=True)
    with open(os.path.join(d, "spec.json"), "w") as f:
        json.dump(spec, f)
    run = subprocess.run([tool, "encoder", d], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"FAIL: objective_parity_tool encoder ({device}, {precision}) exited {run.returncode}:\n{run.stderr}")
    with open(os.path.join(d, "result.json")) as f:
        return json.load(f), d


def load(d, name, shape):
    return torch.from_numpy(np.fromfile(os.path.join(d, name), "<f4").copy()).reshape(shape)


def rel(a, b):
    den = b.norm().item()
    return (a - b).norm().item() / den if den > 0 else (0.0 if a.norm().item() == 0 else math.inf)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda")
    p.add_argument("--size", default="base", choices=sorted(SIZES))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--len", type=int, default=32)
    p.add_argument("--json", default="")
    a = p.parse_args()
    tool = os.path.join(os.environ.get("SIMCSEPP_BUILD_DIR", "build"), "bin", "objective_parity_tool")
    if not os.path.exists(tool):
        sys.exit(f"FAIL: {tool} not built (cmake --build <build> --target objective_parity_tool)")
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("FAIL: --device cuda but torch sees no GPU")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    precisions = ["fp32", "bf16"] if dev.type == "cuda" else ["fp32"]
    results, ok = {"device": a.device, "size": a.size, "batch": a.batch, "len": a.len, "checks": []}, True

    def gate(label, value, tol, metric):
        nonlocal ok
        passed = value <= tol  # NaN fails
        ok &= passed
        results["checks"].append({"check": label, "metric": metric, "value": value, "tol": tol, "pass": passed})
        print(f"  {'ok  ' if passed else 'FAIL'} {label:48s} {metric:14s} {value:.3e}  (tol {tol:g})")

    shm = "/dev/shm" if os.path.isdir("/dev/shm") and dev.type == "cuda" else None
    with tempfile.TemporaryDirectory(dir=shm) as work:
        t0 = time.time()
        model_dir, bert, mlp = make_model(work, a.size)
        bert.to(dev).train()  # dropout probabilities are 0: train mode is deterministic
        mlp.to(dev)
        ids, mask = inputs(a.batch, a.len, SIZES[a.size]["vocab_size"])
        print(f"model {a.size} ({sum(p.numel() for p in bert.parameters()) / 1e6:.1f} M parameters) "
              f"made in {time.time() - t0:.1f} s; batch {a.batch} x {a.len} on {a.device}")
        for precision in precisions:
            bf16 = precision == "bf16"
            print(f"{precision}:")
            loss_ref, hidden_ref, pooled_ref, grads_ref = reference(bert, mlp, ids, mask, dev, bf16)
            res, out_dir = simcsepp(tool, model_dir, ids, mask, a.device, precision, work)
            hidden = load(out_dir, "hidden.f32", hidden_ref.shape)
            pooled = load(out_dir, "pooled.f32", pooled_ref.shape)
            grads = {n: load(out_dir, os.path.join("grad", n + ".f32"), grads_ref[n].shape)
                     for n in res["parameters"] if n in grads_ref}
            unknown = sorted(set(res["parameters"]) - set(grads_ref))
            missing = sorted(set(grads_ref) - set(grads))
            if missing or unknown:
                ok = False
                print(f"  FAIL parameters without a C++ gradient: {missing}; C++ parameters without a reference: {unknown}")
            # A gradient under 1e-4 of the whole gradient's norm (the key biases, which softmax
            # ignores: ~1e-11 of rounding on both sides) is measured against that floor instead.
            floor = 1e-4 * math.sqrt(sum(g.norm().item() ** 2 for g in grads_ref.values()))
            per = {n: (grads[n] - grads_ref[n]).norm().item() / max(grads_ref[n].norm().item(), floor) for n in grads}
            if os.environ.get("CUDA_PARITY_DEBUG"):
                for n in grads:
                    print(f"    {n:60s} ref {grads_ref[n].norm().item():.3e} diff {(grads[n] - grads_ref[n]).norm().item():.3e}")
            worst = sorted(per.items(), key=lambda kv: -kv[1] if not math.isnan(kv[1]) else -math.inf)[:3]
            loss_rel = abs(res["total"] - loss_ref) / (1 + abs(loss_ref))
            print(f"  loss C++ {res['total']:.6f} vs transformers {loss_ref:.6f}")
            if not bf16:
                gate("last_hidden_state", (hidden - hidden_ref).abs().max().item(), FP32_TOL, "max|diff|")
                gate("pooled (cls: MLP + tanh)", (pooled - pooled_ref).abs().max().item(), FP32_TOL, "max|diff|")
                gate("loss", loss_rel, FP32_TOL, "|d|/(1+|l|)")
                gate(f"gradients, worst of {len(per)} parameters", max(per.values()), FP32_TOL, "||d||/||ref||")
            else:
                gate("last_hidden_state", rel(hidden, hidden_ref), BF16_TOL, "||d||/||ref||")
                gate("pooled (cls: MLP + tanh)", rel(pooled, pooled_ref), BF16_TOL, "||d||/||ref||")
                gate("loss", loss_rel, BF16_TOL, "|d|/(1+|l|)")
                names = list(grads)
                flat = torch.cat([grads[n].flatten() for n in names])
                flat_ref = torch.cat([grads_ref[n].flatten() for n in names])
                gate(f"gradients, all {len(names)} parameters together", rel(flat, flat_ref), BF16_TOL, "||d||/||ref||")
                print(f"       (bf16 hidden max|diff| {(hidden - hidden_ref).abs().max().item():.3e})")
            print("       worst gradients: " + ", ".join(f"{n} {v:.2e}" for n, v in worst))
            results[precision] = {"loss_cpp": res["total"], "loss_ref": loss_ref,
                                  "worst_gradients": [[n, v] for n, v in worst]}
            shutil.rmtree(out_dir)
        # Control: the same weights under another layer_norm_eps must fail the fp32 tolerance.
        control = os.path.join(work, "control")
        os.makedirs(control)
        os.symlink(os.path.join(model_dir, "model.safetensors"), os.path.join(control, "model.safetensors"))
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        cfg["layer_norm_eps"] = 1e-3
        json.dump(cfg, open(os.path.join(control, "config.json"), "w"))
        _, hidden_ref, _, _ = reference(bert, mlp, ids, mask, dev, False)
        _, out_dir = simcsepp(tool, control, ids, mask, a.device, "fp32", work)
        diff = (load(out_dir, "hidden.f32", hidden_ref.shape) - hidden_ref).abs().max().item()
        sensitive = diff > FP32_TOL
        ok &= sensitive
        results["checks"].append({"check": "control: layer_norm_eps 1e-3 must differ", "metric": "max|diff|",
                                  "value": diff, "tol": FP32_TOL, "pass": sensitive})
        print(f"  {'ok  ' if sensitive else 'FAIL'} control: layer_norm_eps 1e-3 vs 1e-12 gives max|diff| {diff:.3e} (must exceed {FP32_TOL:g})")
    results["pass"] = bool(ok)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
