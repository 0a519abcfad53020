"""diffcse_parity.py - DiffCSE and DiffCSE++ against a reference transcribed from the official code
(voidism/DiffCSE diffcse/models.py cl_forward and its modeling_bert.py cls_input), float64 on both
sides, with test-only Python (torch + transformers).

Tiny random encoder (BERT + SimCSE's MLP head), generator (DistilBertForMaskedLM) and
discriminator head; every dropout is 0 and the masked copies are made here and fed to both
sides, so both compute the same function. The reference, as the official code does it:
  z = mlp(bert(x)[CLS]) for the two copies; g_pred = generator(masked, mask).logits.argmax(-1),
  g_pred[:, 0] = [CLS]; replaced = (g_pred != x) * mask; e_inputs = g_pred * mask;
  the discriminator's embedding output with position 0 replaced by z (cls_input), its encoder,
  electra_head -> 2 logits per token; loss = instance (+ DCL for diffcse++, objective_parity.py's
  reference) + lambda * CE(logits, replaced).
Also with the official BatchNorm projector (ProjectionMLP, train mode) in place of the MLP head.
One stated difference (docs/training.md "DiffCSE"): the official CE averages over every position
of its batch, padding included; simcsepp over the non-padding tokens. The reference here uses the
non-padding mean; everything else is the official computation.
Checks: loss, replaced labels, and the gradient of EVERY encoder and discriminator parameter
within 1e-7 (rtol 1e-6: the fp32 files the gradients travel in); control: with the official
padding-inclusive mean the loss differs.
Why float64: the question is whether the formula is the official one, and fp32 on both sides
answers it only up to summation order. At fp32 with atol 1e-5 the diffcse++ case passed on an
Intel Xeon (worst 1.30e-5, inside the rtol) and failed on an AMD EPYC: embedding gradients off by
1.29e-5 on entries where rtol adds little, from the DCL's dimension-wise normalisation over 12
rows. In float64 the same two computations agree to the fp32 file rounding (below).
"""
import copy
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from transformers import DistilBertConfig, DistilBertForMaskedLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import objective_parity as ref  # noqa: E402
from objective_encoder_parity import make_model  # noqa: E402

ATOL = 1e-5  # the loss and RTD scalars (JSON, printed at 8 digits)
GRAD_ATOL, GRAD_RTOL = 1e-7, 1e-6  # float64 gradients written as fp32 files: their rounding
MASK_ID, CLS_ID = 3, 2


def discriminator_forward(disc, head, e_inputs, mask, cls_input):
    """The official aux_bert(..., cls_input=z) + electra_head."""
    emb = disc.embeddings(input_ids=e_inputs)
    emb = torch.cat([cls_input.unsqueeze(1), emb[:, 1:, :]], dim=1)
    ext = disc.get_extended_attention_mask(mask, e_inputs.shape)
    hidden = disc.encoder(emb, attention_mask=ext).last_hidden_state
    return head(hidden)


def projection_mlp(hidden):
    """The official ProjectionMLP (diffcse/models.py), in train mode: batch statistics."""
    torch.manual_seed(11)
    net = torch.nn.Sequential(torch.nn.Linear(hidden, 2 * hidden, bias=False), torch.nn.BatchNorm1d(2 * hidden),
                              torch.nn.ReLU(inplace=True), torch.nn.Linear(2 * hidden, hidden, bias=False),
                              torch.nn.BatchNorm1d(hidden, affine=False))
    with torch.no_grad():  # non-trivial BatchNorm affine parameters
        net[1].weight.add_(0.1 * torch.randn(2 * hidden))
        net[1].bias.add_(0.1 * torch.randn(2 * hidden))
    return net.train()


def run_case(tmp, model_dir, bert, mlp, disc, head, generator, gen_dir, objective, n=6, length=10, seed=0, proj=None):
    spec = {"objective": objective, "temperature": 0.05, "pos_ratio": 1.0, "dcl_weight": 0.1, "dcl_temperature": 5.0,
            "hard_negative_weight": 1.0, "pooler": "cls", "rtd_weight": 0.5, "model_dir": model_dir,
            "generator_dir": gen_dir, "columns": 1, "shape": [n, length]}
    spec["dtype"] = "float64"
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(4, length + 1, (n,), generator=g)
    mask = (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)).long()
    ids = torch.randint(5, 120, (n, length), generator=g) * mask
    ids[:, 0] = CLS_ID
    two_ids, two_mask = torch.cat([ids, ids]), torch.cat([mask, mask])
    pick = (torch.rand(two_ids.shape, generator=g) < 0.3) & two_mask.bool()
    pick[:, 0] = False
    masked = torch.where(pick, torch.full_like(two_ids, MASK_ID), two_ids)
    for m in (bert, mlp, disc, head) + ((proj,) if proj is not None else ()):
        m.zero_grad()
    if proj is None:
        z = [torch.tanh(mlp(bert(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0])) for _ in range(2)]
    else:
        # The official model pools the 2N rows of one forward and projects them as one batch.
        cls = bert(input_ids=two_ids, attention_mask=two_mask).last_hidden_state[:, 0]
        z = list(proj(cls).split(n))
        spec["projector"] = "batchnorm"
    views = {"anchor": z[0], "positive": z[1]}
    if "++" in objective:
        cls_off = bert(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]
        views["anchor_off"] = torch.tanh(mlp(cls_off)) if proj is None else proj(cls_off)
    instance_spec = dict(spec, objective=objective.replace("diffcse", "simcse"))
    total, _, _ = ref.reference(instance_spec, views)
    with torch.no_grad():
        g_pred = generator(input_ids=masked, attention_mask=two_mask).logits.argmax(-1)
    g_pred[:, 0] = CLS_ID
    replaced = (g_pred != two_ids).long() * two_mask
    e_inputs = g_pred * two_mask
    logits = discriminator_forward(disc, head, e_inputs, two_mask, torch.cat([z[0], z[1]]))
    per_token = torch.nn.functional.cross_entropy(logits.reshape(-1, 2), replaced.reshape(-1), reduction="none")
    keep = two_mask.reshape(-1).to(per_token.dtype)
    rtd = (per_token * keep).sum() / keep.sum()
    official_rtd = per_token.mean()  # the official padding-inclusive mean (control)
    total = total + spec["rtd_weight"] * rtd
    total.backward()
    d = os.path.join(tmp, objective.replace("+", "p") + ("_bn" if proj is not None else ""))
    os.makedirs(d)
    ids.numpy().astype("<i8").tofile(os.path.join(d, "ids_0.i64"))
    mask.numpy().astype("<i8").tofile(os.path.join(d, "mask_0.i64"))
    masked.numpy().astype("<i8").tofile(os.path.join(d, "masked.i64"))
    head.weight.detach().numpy().astype("<f4").tofile(os.path.join(d, "head_weight.f32"))
    head.bias.detach().numpy().astype("<f4").tofile(os.path.join(d, "head_bias.f32"))
    if proj is not None:
        for name, t in (("proj_up", proj[0].weight), ("proj_norm_weight", proj[1].weight),
                        ("proj_norm_bias", proj[1].bias), ("proj_down", proj[3].weight)):
            t.detach().numpy().astype("<f4").tofile(os.path.join(d, name + ".f32"))
    json.dump(spec, open(os.path.join(d, "spec.json"), "w"))
    subprocess.run([ref.TOOL, "encoder", d], check=True)
    got = json.load(open(os.path.join(d, "result.json")))
    names = got["parameters"] + got["discriminator_parameters"]
    grads = {name: np.fromfile(os.path.join(d, "grad", name + ".f32"), "<f4") for name in names}
    errors = []
    if abs(got["total"] - total.item()) > ATOL * (1 + abs(total.item())):
        errors.append(f"loss C++ {got['total']:.8f} vs reference {total.item():.8f}")
    if abs(got["rtd"] - rtd.item()) > ATOL:
        errors.append(f"rtd C++ {got['rtd']:.8f} vs reference {rtd.item():.8f}")
    got_replaced = np.fromfile(os.path.join(d, "replaced.f32"), "<f4").reshape(replaced.shape)
    if not np.array_equal(got_replaced, replaced.numpy().astype(np.float32)):
        errors.append("replaced labels differ")
    if abs(official_rtd.item() - rtd.item()) < 1e-3:
        errors.append("control: the padding-inclusive mean should differ from the token mean here")
    ref_params = {"bert." + k: p for k, p in bert.named_parameters()}
    ref_params.update({"mlp.dense." + k: p for k, p in mlp.named_parameters()})
    ref_params.update({"discriminator.bert." + k: p for k, p in disc.named_parameters()})
    ref_params.update({"discriminator.head." + k: p for k, p in head.named_parameters()})
    if proj is not None:
        ref_params.update({"projector.net." + k: p for k, p in proj.named_parameters()})
    missing = set(ref_params) - set(grads)
    if missing:
        errors.append(f"parameters without a C++ gradient: {sorted(missing)[:5]}")
    worst = 0.0
    for name, g_cpp in grads.items():
        if name not in ref_params:
            errors.append(f"C++ parameter {name} has no reference")
            continue
        p = ref_params[name]
        want = p.grad if p.grad is not None else torch.zeros_like(p)
        got_t = torch.from_numpy(g_cpp).reshape(p.shape)
        worst = max(worst, (got_t - want).abs().max().item())
        got_t = got_t.to(want.dtype)
        if not torch.allclose(got_t, want, atol=GRAD_ATOL, rtol=GRAD_RTOL):
            errors.append(f"grad {name}: max |diff| {(got_t - want).abs().max().item():.3e} (max |grad| {want.abs().max().item():.3e})")
    disc_grad = max(float(np.abs(grads[k]).max()) for k in got["discriminator_parameters"])
    if disc_grad == 0:
        errors.append("the discriminator got no gradient")
    print(f"{'OK' if not errors else 'FAIL'} {objective}{' + BatchNorm projector' if proj is not None else ''}: loss {total.item():.6f} (C++ {got['total']:.6f}), rtd "
          f"{rtd.item():.6f} (official padding-inclusive mean {official_rtd.item():.6f}), replaced "
          f"{int(replaced.sum())} of {int(two_mask.sum())} tokens, {len(grads)} parameters, worst |grad diff| {worst:.2e}")
    for e in errors:
        print("   ", e)
    return not errors


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, bert, mlp = make_model(tmp)
        bert.train()
        # The discriminator starts from the encoder's checkpoint (as the official code); its head fresh.
        disc = type(bert)(bert.config, add_pooling_layer=False)
        disc.load_state_dict(bert.state_dict())
        disc.train()
        torch.manual_seed(1)
        head = torch.nn.Linear(32, 2)
        generator = DistilBertForMaskedLM(DistilBertConfig(vocab_size=120, dim=16, n_layers=1, n_heads=2, hidden_dim=32,
                                                           max_position_embeddings=64, dropout=0.0,
                                                           attention_dropout=0.0)).eval()
        gen_dir = os.path.join(tmp, "generator")
        generator.save_pretrained(gen_dir, safe_serialization=True)
        # Every case in float64 on both sides (see the docstring). Also the official BERT recipe's
        # --batchnorm projector (ProjectionMLP) instead of the MLP head: with dropout 0 the two views
        # are identical and BatchNorm over their rows makes an fp32 gradient ill-conditioned (two
        # fp32 runs of the reference alone, with and without an in-place ReLU, differ by 7e-5).
        proj = projection_mlp(32).double()
        models = [copy.deepcopy(m).double() for m in (bert, mlp, disc, head, generator)]
        torch.set_default_dtype(torch.float64)  # the reference's own temporaries (DCL's BatchNorm) too
        ok = all([run_case(tmp, model_dir, *models[:4], models[4], gen_dir, o, seed=i)
                  for i, o in enumerate(["diffcse", "diffcse++"])])
        ok = all([run_case(tmp, model_dir, *models[:4], models[4], gen_dir, o, seed=2 + i, proj=proj)
                  for i, o in enumerate(["diffcse", "diffcse++"])]) and ok
        torch.set_default_dtype(torch.float32)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
