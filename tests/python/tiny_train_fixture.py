"""Shared setup of the `simcsepp train` behaviour tests: a tiny random BERT (hidden 32, 2 layers)
saved as a Hugging Face directory, a tiny prepared corpus and a 200-pair STS-B dev file, so each
run takes seconds on one CPU core. Test-only."""
import json
import os
import shutil
import subprocess

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel

BIN = os.environ.get("SIMCSEPP_BIN", "build/bin/simcsepp")
DATA = os.environ.get("SIMCSEPP_SHARED_DATA", "../shared/data")
VOCAB = os.path.join(DATA, "vocab", "bert-base-uncased-vocab.txt")


class Checks:
    def __init__(self):
        self.failures = []

    def __call__(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if not cond:
            self.failures.append(what)

    def exit(self, name):
        print("FAILED:" if self.failures else f"all {name} checks passed", *self.failures, sep="\n  ")
        raise SystemExit(1 if self.failures else 0)


def run(args, env=None, prefix=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run((prefix or []) + [BIN] + args, env=e, capture_output=True, text=True)


def failed_tail(r):
    """The end of stderr of a command that failed (nothing for one that succeeded)."""
    return "" if r.returncode == 0 else f" (rc {r.returncode}): " + r.stderr[-400:]


def make_model(path, nan_weight=False, drop_tensor=None, hidden=32):
    """A random 2 x `hidden` BERT + MLP head in simcsepp's checkpoint layout; optionally one NaN
    weight or one tensor left out (for the error-path tests)."""
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=2 * hidden, max_position_embeddings=64)
    bert = BertModel(cfg, add_pooling_layer=False)
    tensors = {"bert." + k: v.contiguous() for k, v in bert.state_dict().items() if "position_ids" not in k}
    tensors["mlp.dense.weight"] = torch.randn(hidden, hidden) * 0.02
    tensors["mlp.dense.bias"] = torch.zeros(hidden)
    if nan_weight:
        tensors["mlp.dense.weight"][0, 0] = float("nan")
    if drop_tensor:
        del tensors[drop_tensor]
    os.makedirs(path, exist_ok=True)
    save_file(tensors, os.path.join(path, "model.safetensors"))
    cfg.to_json_file(os.path.join(path, "config.json"))
    shutil.copy(VOCAB, os.path.join(path, "vocab.txt"))
    return path


def prep_corpus(tmp, name, lines, suffix=".txt"):
    """`simcsepp prep` of the given lines (one sentence per line, or CSV rows with a header)."""
    src = os.path.join(tmp, name + suffix)
    with open(src, "w") as out:
        out.writelines(lines)
    out_dir = os.path.join(tmp, name)
    r = run(["prep", "-i", src, "-o", out_dir, "--vocab", VOCAB, "--max-len", "32", "--no-progress"])
    if r.returncode != 0:
        raise RuntimeError("prep failed: " + r.stderr[-500:])
    return out_dir


def wiki_lines(n):
    with open(os.path.join(DATA, "corpus", "wiki1m_head.txt")) as f:
        return f.readlines()[:n]


def sts_dev(tmp, n=200):
    path = os.path.join(tmp, "sts-dev.csv")
    with open(os.path.join(DATA, "sts", "STSBenchmark", "sts-dev.csv")) as f, open(path, "w") as out:
        out.writelines(f.readlines()[:n])
    return path


def records(run_dir, kind=None):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        rs = [json.loads(line) for line in f]
    return [r for r in rs if kind is None or r["kind"] == kind]


def step_losses(run_dir):
    """{step: loss}; a resumed run re-logs the steps after its checkpoint, the last one wins."""
    return {r["step"]: r["loss"] for r in records(run_dir, "step")}


def checkpoints(run_dir):
    d = os.path.join(run_dir, "checkpoints")
    return sorted(f for f in os.listdir(d) if f.endswith(".ckpt")) if os.path.isdir(d) else []


def read_checkpoint_tensors(path):
    """(meta, {name: float32 array}) of a SIMCSEPP-CKPT-1 file (magic, u64 header length, JSON
    header, raw tensors), read independently of the C++ reader."""
    import struct
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    assert data[:16] == b"SIMCSEPP-CKPT-1\n", path
    (n,) = struct.unpack("<Q", data[16:24])
    header = json.loads(data[24:24 + n])
    out = {}
    for t in header["tensors"]:
        if t["dtype"] == "float32":
            raw = data[24 + n + t["offset"]: 24 + n + t["offset"] + t["bytes"]]
            out[t["name"]] = np.frombuffer(raw, "<f4").reshape(t["shape"])
    return header["meta"], out
