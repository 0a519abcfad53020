"""objective_encoder_parity.py - the full objective through the encoder: simcsepp's
forward_objective (model/objective_forward.h) on a tiny random BERT vs transformers' BertModel +
SimCSE's MLP head + the reference losses of objective_parity.py, fp32.

Dropout is made deterministic by setting both dropout probabilities to 0 in config.json, so the
dropout-on and dropout-off calls compute the same function on both sides. Checks the loss and
the gradient of EVERY encoder parameter (atol 1e-5, rtol 1e-4: the two sides sum attention and
matmuls in different orders, about 1e-6 relative apart in fp32).
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import objective_parity as ref  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4


def make_model(tmp):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    bert = BertModel(cfg, add_pooling_layer=False).eval()
    mlp = torch.nn.Linear(32, 32)
    tensors = {"bert." + k: v.contiguous() for k, v in bert.state_dict().items() if "position_ids" not in k}
    tensors["mlp.dense.weight"] = mlp.weight.detach().contiguous()
    tensors["mlp.dense.bias"] = mlp.bias.detach().contiguous()
    model_dir = os.path.join(tmp, "model")
    os.makedirs(model_dir)
    save_file(tensors, os.path.join(model_dir, "model.safetensors"))
    cfg.to_json_file(os.path.join(model_dir, "config.json"))
    return model_dir, bert, mlp


def pool(bert, mlp, ids, mask, pooler):
    out = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    if pooler == "cls":
        return torch.tanh(mlp(out[:, 0]))
    if pooler == "avg":
        m = mask.unsqueeze(-1).float()
        return (out * m).sum(1) / m.sum(1)
    raise ValueError(pooler)


def run_case(model_dir, bert, mlp, objective, pooler="cls", n=6, length=10, seed=0, **hyper):
    spec = {"objective": objective, "temperature": 0.05, "pos_ratio": 1.0, "dcl_weight": 0.1,
            "dcl_temperature": 5.0, "hard_negative_weight": 1.0, "pooler": pooler}
    spec.update(hyper)
    columns = 3 if "supervised" in objective else 1
    g = torch.Generator().manual_seed(seed)
    ids, masks = [], []
    for _ in range(columns):
        lengths = torch.randint(3, length + 1, (n,), generator=g)
        mask = (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)).long()
        ids.append(torch.randint(1, 120, (n, length), generator=g) * mask)
        masks.append(mask)
    spec.update({"model_dir": model_dir, "columns": columns, "shape": [n, length]})
    bert.zero_grad()
    mlp.zero_grad()
    off = "off-dropout" in objective or "simcse++" in objective
    views = {}
    emb = [pool(bert, mlp, i, m, pooler) for i, m in zip(ids, masks)]
    if columns == 1:
        # Dropout is 0, so the two dropout-on views and the dropout-off view are the same values;
        # each is a separate forward on both sides, as in training.
        views["anchor"], views["positive"] = emb[0], pool(bert, mlp, ids[0], masks[0], pooler)
        if off:
            views["anchor_off"] = pool(bert, mlp, ids[0], masks[0], pooler)
    else:
        views["anchor"], views["positive"], views["hard_negative"] = emb
        if off:
            views["anchor_off"], views["positive_off"], views["hard_negative_off"] = [
                pool(bert, mlp, i, m, pooler) for i, m in zip(ids, masks)]
    total, _, _ = ref.reference(spec, views)
    total.backward()
    with tempfile.TemporaryDirectory() as tmp:
        for c in range(columns):
            ids[c].numpy().astype("<i8").tofile(os.path.join(tmp, f"ids_{c}.i64"))
            masks[c].numpy().astype("<i8").tofile(os.path.join(tmp, f"mask_{c}.i64"))
        with open(os.path.join(tmp, "spec.json"), "w") as f:
            json.dump(spec, f)
        subprocess.run([ref.TOOL, "encoder", tmp], check=True)
        with open(os.path.join(tmp, "result.json")) as f:
            got = json.load(f)
        grads = {name: np.fromfile(os.path.join(tmp, "grad", name + ".f32"), "<f4") for name in got["parameters"]}
    errors = []
    if abs(got["total"] - total.item()) > ATOL * (1 + abs(total.item())):
        errors.append(f"loss C++ {got['total']:.8f} vs reference {total.item():.8f}")
    ref_params = {"bert." + k: p for k, p in bert.named_parameters()}
    ref_params.update({"mlp.dense." + k: p for k, p in mlp.named_parameters()})
    missing = set(ref_params) - set(grads)
    if missing:
        errors.append(f"parameters without a C++ gradient: {sorted(missing)}")
    worst = 0.0
    for name, g_cpp in grads.items():
        if name not in ref_params:
            errors.append(f"C++ parameter {name} has no reference")
            continue
        p = ref_params[name]
        want = p.grad if p.grad is not None else torch.zeros_like(p)
        got_t = torch.from_numpy(g_cpp).reshape(p.shape)
        worst = max(worst, (got_t - want).abs().max().item())
        if not torch.allclose(got_t, want, atol=ATOL, rtol=RTOL):
            errors.append(f"grad {name}: max |diff| {(got_t - want).abs().max().item():.3e}")
    print(f"{'OK' if not errors else 'FAIL'} {objective} pooler={pooler} {hyper} loss={total.item():.6f} "
          f"(C++ {got['total']:.6f}), {len(grads)} parameters, worst |grad diff| {worst:.2e}")
    for e in errors:
        print("   ", e)
    return not errors


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, bert, mlp = make_model(tmp)
        bert.train()  # dropout probabilities are 0: train mode is deterministic
        cases = [("simcse", "cls", {}), ("off-dropout", "cls", {"pos_ratio": 0.9}), ("dcl", "cls", {}),
                 ("simcse++", "cls", {}), ("simcse++", "avg", {}), ("supervised", "cls", {}),
                 ("supervised+dcl", "cls", {"hard_negative_weight": 2.0}),
                 ("supervised+off-dropout+dcl", "cls", {})]
        ok = all([run_case(model_dir, bert, mlp, o, p, seed=i, **h) for i, (o, p, h) in enumerate(cases)])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
