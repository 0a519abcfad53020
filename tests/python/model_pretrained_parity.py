"""A real pretrained checkpoint (scripts/get_pretrained.sh: all-MiniLM-L6-v2, BERT, 6 layers,
hidden 384) gives the same outputs in simcsepp as in transformers and sentence-transformers, and
its STS-B dev Spearman computed by simcsepp matches the Python pipeline.

Checks (fp32, CPU):
  - last hidden states vs transformers.AutoModel: max abs diff < 1e-4;
  - the package's own sentence-transformers pipeline (mean pooling + Normalize) vs simcsepp's avg
    pooler, L2-normalised: < 1e-4;
  - simcsepp export of the checkpoint (cls_before_pooler) loaded by SentenceTransformer: < 1e-4;
  - STS-B dev Spearman x 100 of [CLS] and mean pooling scored by the product's evaluation path
    (`simcsepp eval --tasks STSBenchmark` on a SentEval layout holding the dev file) vs
    transformers + scipy on the same pairs, as SentEval scores STS-B (file order, batches of 128,
    float32 cosine per pair, spearmanr over all pairs): within 0.05.
The Spearman numbers are printed for docs/model.md.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from scipy.stats import spearmanr
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, BertTokenizer

TOL = 1e-4
SOURCE = os.environ["SIMCSEPP_SOURCE_DIR"]
BIN = os.path.join(os.environ["SIMCSEPP_BUILD_DIR"], "bin")
STSB_DEV = os.path.join(os.environ["SIMCSEPP_SHARED_DATA"], "sts", "STSBenchmark", "sts-dev.csv")


def run(*args):
    result = subprocess.run(list(args), capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def check(name, got, want, tol=TOL):
    diff = (got - want).abs().max().item()
    print(f"  {name:55s} max abs diff {diff:.2e}")
    if not diff < tol:
        sys.exit(f"FAIL: {name}: max abs diff {diff} >= {tol}")


def read_stsb(path):
    first, second, gold = [], [], []
    for line in open(path, encoding="utf-8"):
        cols = line.rstrip("\n").split("\t")
        gold.append(float(cols[4]))
        first.append(" ".join(cols[5].split()))
        second.append(" ".join(cols[6].split()))
    return first, second, gold


def masked_mean(hidden, mask):
    m = mask.unsqueeze(-1).float()
    return (hidden * m).sum(1) / m.sum(1)


def main():
    model_dir = run("bash", os.path.join(SOURCE, "scripts", "get_pretrained.sh")).strip().splitlines()[-1]
    print(f"pretrained model: {model_dir}")
    first, second, gold = read_stsb(STSB_DEV)
    tokenizer = BertTokenizer.from_pretrained(model_dir)
    reference = AutoModel.from_pretrained(model_dir).eval()
    sample = first[:24] + second[:24]
    batch = tokenizer(sample, padding=True, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]

    with tempfile.TemporaryDirectory() as work:
        inputs, outputs = os.path.join(work, "in.safetensors"), os.path.join(work, "out.safetensors")
        save_file({"input_ids": ids.contiguous(), "attention_mask": mask.contiguous()}, inputs)
        run(os.path.join(BIN, "model_parity_tool"), "run", model_dir, inputs, outputs)
        ours = load_file(outputs)
        with torch.no_grad():
            ref = reference(input_ids=ids, attention_mask=mask).last_hidden_state
        print("parity on 48 STS-B dev sentences")
        check("last_hidden_state vs AutoModel (all positions)", ours["last_hidden_state"], ref)
        st = SentenceTransformer(model_dir, device="cpu")
        st_emb = st.encode(sample, convert_to_tensor=True, batch_size=len(sample))
        check("package SentenceTransformer vs normalised simcsepp avg", F.normalize(ours["avg"], dim=-1), st_emb)

        exported = os.path.join(work, "export")
        run(os.path.join(BIN, "model_parity_tool"), "export", model_dir, exported, "cls_before_pooler")
        st_export = SentenceTransformer(exported, device="cpu")
        check("export (cls_before_pooler) in SentenceTransformer vs simcsepp",
              st_export.encode(sample, convert_to_tensor=True, batch_size=len(sample)), ours["cls_before_pooler"])

    ours_sts = {}
    with tempfile.TemporaryDirectory() as work:
        # SentEval's layout (data/downstream/STS/STSBenchmark/); only the dev split is shared.
        layout = os.path.join(work, "downstream")
        os.makedirs(os.path.join(layout, "STS", "STSBenchmark"))
        shutil.copy(STSB_DEV, os.path.join(layout, "STS", "STSBenchmark", "sts-dev.csv"))
        for pooler in ("cls_before_pooler", "avg"):
            out = os.path.join(work, pooler + ".json")
            run(os.path.join(BIN, "simcsepp"), "eval", "--model", model_dir, "--senteval-data", layout, "--tasks",
                "STSBenchmark", "--pooler", pooler, "--device", "cpu", "--output", out)
            dev = json.load(open(out))["tasks"]["STSBenchmark"]["parts"]["dev"]
            if dev["pairs"] != len(gold):
                sys.exit(f"FAIL: simcsepp eval scored {dev['pairs']} STS-B dev pairs, the file has {len(gold)}")
            ours_sts[pooler] = dev["spearman_x100"]
    print(f"STS-B dev ({len(gold)} pairs), Spearman x 100, `simcsepp eval`: "
          f"[CLS] {ours_sts['cls_before_pooler']:.2f}, mean pooling {ours_sts['avg']:.2f}")

    # The same pairs through transformers + scipy (one pass per side, both poolers).
    pooled = {"cls": [], "mean": []}
    for sentences in (first, second):
        outs = {"cls": [], "mean": []}
        for start in range(0, len(sentences), 128):
            b = tokenizer(sentences[start:start + 128], padding=True, truncation=True, max_length=512,
                          return_tensors="pt")
            with torch.no_grad():
                h = reference(**b).last_hidden_state
            outs["cls"].append(h[:, 0])
            outs["mean"].append(masked_mean(h, b["attention_mask"]))
        for pool in outs:
            pooled[pool].append(torch.cat(outs[pool]))
    for ours_key, pool in (("cls_before_pooler", "cls"), ("avg", "mean")):
        # SentEval's utils.cosine per pair on the float32 embeddings, nan_to_num around it.
        cos = [np.nan_to_num(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
               for u, v in zip(pooled[pool][0].numpy(), pooled[pool][1].numpy())]
        theirs = 100 * spearmanr(cos, gold).statistic
        print(f"  {pool:5s}: simcsepp {ours_sts[ours_key]:.4f}  transformers+scipy {theirs:.4f}")
        if abs(ours_sts[ours_key] - theirs) > 0.05:
            sys.exit(f"FAIL: STS-B Spearman ({pool}) differs: {ours_sts[ours_key]} vs {theirs}")
    print("PASS")


if __name__ == "__main__":
    main()
