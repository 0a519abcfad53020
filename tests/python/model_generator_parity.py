"""DiffCSE's generator (model/mlm_generator.h) against transformers, test-only Python oracle.

Tiny random DistilBertForMaskedLM and BertForMaskedLM (the paper's generator is
distilbert-base-uncased; any BERT masked LM works too) are saved with save_pretrained; simcsepp's
`model_parity_tool mlm` loads each directory and writes its vocabulary logits and argmax fill
for a padded batch. Checked, eval mode (dropout off) on both sides:
- logits at every non-padding position within 1e-5 of transformers' (fp32), and the same argmax;
- controls: the same comparison against the model with one weight changed by 1e-2 fails the bound
  (so the bound can fail), a config.json whose layer count disagrees with the weights and a
  directory of another model_type are refused with exit 1 and the file named.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import BertConfig, BertForMaskedLM, DistilBertConfig, DistilBertForMaskedLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_train_fixture import Checks  # noqa: E402

TOOL = os.path.join(os.path.dirname(os.environ.get("SIMCSEPP_BIN", "build/bin/simcsepp")), "model_parity_tool")
BOUND = 1e-5
check = Checks()


def make(kind, path):
    torch.manual_seed(3)
    if kind == "distilbert":
        model = DistilBertForMaskedLM(DistilBertConfig(vocab_size=500, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                                       max_position_embeddings=64))
    else:
        model = BertForMaskedLM(BertConfig(vocab_size=500, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                           intermediate_size=64, max_position_embeddings=64))
    with torch.no_grad():  # non-trivial LayerNorms and biases, so every parameter matters
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    model.eval()
    model.save_pretrained(path, safe_serialization=True)
    return model


def run_tool(model_dir, ids, mask, tmp):
    inputs, outputs = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
    save_file({"input_ids": ids, "attention_mask": mask}, inputs)
    r = subprocess.run([TOOL, "mlm", model_dir, inputs, outputs], capture_output=True, text=True)
    return r, (load_file(outputs) if r.returncode == 0 else None)


def main():
    torch.manual_seed(0)
    ids = torch.randint(5, 500, (4, 12))
    mask = torch.ones(4, 12, dtype=torch.long)
    mask[1, 7:] = 0
    mask[3, 4:] = 0
    ids = ids * mask
    keep = mask.bool()
    with tempfile.TemporaryDirectory(prefix="simcsepp_generator_") as tmp:
        for kind in ("distilbert", "bert"):
            d = os.path.join(tmp, kind)
            model = make(kind, d)
            with torch.no_grad():
                want = model(input_ids=ids, attention_mask=mask).logits
            r, got = run_tool(d, ids, mask, tmp)
            check(r.returncode == 0, f"{kind}: the tool loads the directory" + ("" if r.returncode == 0 else ": " + r.stderr[-300:]))
            if got is None:
                continue
            diff = float((got["logits"] - want).abs()[keep].max())
            check(diff <= BOUND, f"{kind}: logits within {BOUND} of transformers' (max {diff:.2e})")
            check(torch.equal(got["fill"][keep], want.argmax(-1)[keep]), f"{kind}: the argmax fill equals transformers'")
            # Control: one weight changed by 1e-2 moves the logits beyond the bound.
            with torch.no_grad():
                p = dict(model.named_parameters())[
                    "distilbert.transformer.layer.1.ffn.lin2.weight" if kind == "distilbert"
                    else "bert.encoder.layer.1.output.dense.weight"]
                p[0, 0] += 1e-2
                other = model(input_ids=ids, attention_mask=mask).logits
            control = float((got["logits"] - other).abs()[keep].max())
            check(control > BOUND, f"{kind}: control - a weight changed by 1e-2 differs by {control:.2e} (> bound)")
        # Bad directories: a config that disagrees with the weights, another model type.
        cfg_path = os.path.join(tmp, "distilbert", "config.json")
        cfg = json.load(open(cfg_path))
        cfg["n_layers"] = 3
        json.dump(cfg, open(cfg_path, "w"))
        r, _ = run_tool(os.path.join(tmp, "distilbert"), ids, mask, tmp)
        check(r.returncode == 1 and "model.safetensors" in r.stderr and "missing" in r.stderr,
              "a config with more layers than the weights is refused naming the file: " + r.stderr.strip()[-200:])
        cfg["n_layers"] = 2
        cfg["model_type"] = "roberta"
        json.dump(cfg, open(cfg_path, "w"))
        r, _ = run_tool(os.path.join(tmp, "distilbert"), ids, mask, tmp)
        check(r.returncode == 1 and "model_type" in r.stderr, "another model_type is refused: " + r.stderr.strip()[-200:])
    check.exit("generator parity")


if __name__ == "__main__":
    main()
