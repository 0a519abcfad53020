"""objective_parity.py - the C++ objectives (model/objective.h) against an independent torch
reference written from docs/method.md, on random embeddings, fp32.

For every objective and combination: the loss and its gradient with respect to every input view
must match to 1e-5 (absolute, plus 1e-5 relative). The reference follows the authors' code where
method.md points to it: F.cross_entropy on the cosine matrix for SimCSE, the log(1e-45) diagonal
for off-dropout, BatchNorm1d(affine=False) for DCL, explicit sums for supervised weights.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

TOL = 1e-5
TOOL = os.path.join(os.environ.get("SIMCSEPP_BUILD_DIR", "build"), "bin", "objective_parity_tool")


def cos_matrix(a, b):
    # The authors' Similarity module: nn.CosineSimilarity on broadcast rows.
    return torch.nn.CosineSimilarity(dim=-1)(a.unsqueeze(1), b.unsqueeze(0))


def simcse_loss(h, hp, tau):
    sim = cos_matrix(h, hp) / tau
    return F.cross_entropy(sim, torch.arange(h.shape[0]))


def off_dropout_loss(h, hp, hbar, tau, m):
    pos = m * torch.nn.CosineSimilarity(dim=-1)(h, hp) / tau
    neg = cos_matrix(hbar, hbar) / tau + torch.diag(torch.full((h.shape[0],), np.log(1e-45)))
    # loss_i = -pos_i + log(exp(pos_i) + sum_{j!=i} exp(neg_ij))
    return (-pos + torch.log(torch.exp(pos) + torch.exp(neg).sum(1))).mean()


def supervised_loss(h, p, n, tau, w, neg_anchor=None, p_neg=None, n_neg=None, m=1.0):
    # Without off-dropout: neg_anchor = h, p_neg = p, n_neg = n.
    a = h if neg_anchor is None else neg_anchor
    p_cols = p if p_neg is None else p_neg
    n_cols = n if n_neg is None else n_neg
    pos = m * torch.nn.CosineSimilarity(dim=-1)(h, p) / tau
    sp = torch.exp(cos_matrix(a, p_cols) / tau)
    sp = sp * (1 - torch.eye(h.shape[0]))  # j != i among the positives-as-negatives
    sn = w * torch.exp(cos_matrix(a, n_cols) / tau)
    return (-pos + torch.log(torch.exp(pos) + sp.sum(1) + sn.sum(1))).mean()


def dcl(z1, z2, tau_d):
    bn = torch.nn.BatchNorm1d(z1.shape[1], affine=False, eps=1e-5).train()
    zt1, zt2 = bn(z1), bn(z2)
    c = zt1.T @ zt2 / z1.shape[0]
    return F.cross_entropy(c / tau_d, torch.arange(z1.shape[1]))


def reference(spec, v):
    parts = spec["objective"].split("+")
    sup = "supervised" in parts
    off = "off-dropout" in parts or "simcse++" in spec["objective"]
    use_dcl = "dcl" in parts or "simcse++" in spec["objective"]
    tau, m = spec["temperature"], spec["pos_ratio"]
    if sup and off:
        inst = supervised_loss(v["anchor"], v["positive"], None, tau, spec["hard_negative_weight"],
                               neg_anchor=v["anchor_off"], p_neg=v["positive_off"],
                               n_neg=v["hard_negative_off"], m=m)
    elif sup:
        inst = supervised_loss(v["anchor"], v["positive"], v["hard_negative"], tau,
                               spec["hard_negative_weight"])
    elif off:
        inst = off_dropout_loss(v["anchor"], v["positive"], v["anchor_off"], tau, m)
    else:
        inst = simcse_loss(v["anchor"], v["positive"], tau)
    d = dcl(v["anchor"], v["positive"], spec["dcl_temperature"]) if use_dcl else torch.zeros(())
    return inst + (spec["dcl_weight"] * d if use_dcl else 0), inst, d


def run_case(objective, n=8, d=16, seed=0, **hyper):
    spec = {"objective": objective, "temperature": 0.05, "pos_ratio": 1.0, "dcl_weight": 0.1,
            "dcl_temperature": 5.0, "hard_negative_weight": 1.0}
    spec.update(hyper)
    g = torch.Generator().manual_seed(seed)
    names = ["anchor", "positive"]
    if "supervised" in objective:
        names += ["hard_negative"]
    if "off-dropout" in objective or "simcse++" in objective:
        names += ["anchor_off"]
        if "supervised" in objective:
            names += ["positive_off", "hard_negative_off"]
    base = torch.randn(n, d, generator=g)
    # Views of one sentence are correlated (as dropout views are) so losses are not trivial.
    views = {k: (base + 1.2 * torch.randn(n, d, generator=g)).requires_grad_(True) for k in names}
    spec["views"] = {k: list(t.shape) for k, t in views.items()}
    with tempfile.TemporaryDirectory() as tmp:
        for k, t in views.items():
            t.detach().numpy().astype("<f4").tofile(os.path.join(tmp, k + ".f32"))
        with open(os.path.join(tmp, "spec.json"), "w") as f:
            json.dump(spec, f)
        subprocess.run([TOOL, "embeddings", tmp], check=True)
        with open(os.path.join(tmp, "result.json")) as f:
            got = json.load(f)
        grads = {k: torch.from_numpy(np.fromfile(os.path.join(tmp, "grad_" + k + ".f32"), "<f4"))
                 .reshape(views[k].shape) for k in names}
    total, inst, d_loss = reference(spec, views)
    total.backward()
    errors = []
    for key, want in (("total", total), ("instance", inst), ("dcl", d_loss)):
        if abs(got[key] - want.item()) > TOL * (1 + abs(want.item())):
            errors.append(f"{key}: C++ {got[key]:.8f} vs reference {want.item():.8f}")
    for k in names:
        want = views[k].grad if views[k].grad is not None else torch.zeros_like(views[k])
        diff = (grads[k] - want).abs().max().item()
        if not torch.allclose(grads[k], want, atol=TOL, rtol=TOL):
            errors.append(f"grad {k}: max |diff| {diff:.3e}")
    status = "OK" if not errors else "FAIL"
    print(f"{status} {objective} {hyper} loss={total.item():.6f} (C++ {got['total']:.6f})")
    for e in errors:
        print("   ", e)
    return not errors


def main():
    cases = [
        ("simcse", {}),
        ("off-dropout", {}),
        ("off-dropout", {"pos_ratio": 0.9}),
        ("dcl", {}),
        ("simcse+dcl", {"dcl_weight": 0.5, "dcl_temperature": 2.0}),
        ("simcse++", {}),
        ("off-dropout+dcl", {"pos_ratio": 0.9, "temperature": 0.1}),
        ("supervised", {}),
        ("supervised", {"hard_negative_weight": 2.5}),
        ("supervised+dcl", {}),
        ("supervised+off-dropout", {"pos_ratio": 0.9}),
        ("supervised+off-dropout+dcl", {"hard_negative_weight": 0.5}),
    ]
    ok = all([run_case(o, seed=i, **h) for i, (o, h) in enumerate(cases)])
    # A larger batch, wider embedding: catches shape/axis mistakes the tiny case might hide.
    ok = run_case("simcse++", n=64, d=48, seed=99) and ok
    ok = run_case("supervised+dcl", n=32, d=24, seed=98) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
