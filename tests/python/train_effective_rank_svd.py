"""The effective rank `simcsepp train --diagnostics-every 1` logs comes from the singular values of
the batch embedding matrix computed in C++ (trainer/train_step.cpp, torch::linalg_svdvals of the
anchor embeddings). monitoring_diagnostics_parity.py checks only the entropy formula given
singular values; this test checks the C++ SVD of the real matrix: a corpus of exactly one batch
(the order of its rows changes no singular value), a tiny BERT with dropout 0 (the anchor is then
deterministic), the first update's effective_rank against numpy's SVD (float64) of the anchor
embeddings computed independently with transformers + SimCSE's MLP head (tanh(W cls + b)).
Tolerance: relative 1e-4 (fp32 encoders in two implementations; the rank itself spans 1..8)."""
import json
import os
import shutil
import tempfile

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel, BertTokenizer

from tiny_train_fixture import VOCAB, Checks, failed_tail, prep_corpus, records, run, sts_dev

check = Checks()
SENTENCES = ["a man is playing a guitar .", "the cat sat on the mat .", "stocks fell sharply on monday .",
             "she reads a book in the park .", "two dogs run across the field .", "rain is expected tomorrow .",
             "the committee approved the new budget .", "he cooked pasta for dinner ."]


def make_model(path):
    torch.manual_seed(3)
    # initializer_range 0.2: spread embeddings (with 0.02 every [CLS] is nearly the same vector,
    # the effective rank is ~1 and would not tell an SVD from its square).
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, initializer_range=0.2)
    bert = BertModel(cfg, add_pooling_layer=False).eval()
    tensors = {"bert." + k: v.contiguous() for k, v in bert.state_dict().items() if "position_ids" not in k}
    w, b = torch.randn(32, 32) * 0.2, torch.randn(32) * 0.1
    tensors["mlp.dense.weight"], tensors["mlp.dense.bias"] = w, b
    os.makedirs(path, exist_ok=True)
    save_file(tensors, os.path.join(path, "model.safetensors"))
    cfg.to_json_file(os.path.join(path, "config.json"))
    shutil.copy(VOCAB, os.path.join(path, "vocab.txt"))
    return bert, w, b


def reference_effective_rank(bert, w, b):
    tok = BertTokenizer(VOCAB, do_lower_case=True)
    batch = tok(SENTENCES, padding="max_length", truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        cls = bert(**batch).last_hidden_state[:, 0]
        anchor = torch.tanh(cls @ w.T + b).double().numpy()
    s = np.linalg.svd(anchor, compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum())), s


def main():
    tmp = tempfile.mkdtemp(prefix="simcsepp_erank_")
    try:
        bert, w, b = make_model(os.path.join(tmp, "model"))
        corpus = prep_corpus(tmp, "corpus", [s + "\n" for s in SENTENCES])
        d = os.path.join(tmp, "run")
        r = run(["train", "--run-dir", d, "--model", os.path.join(tmp, "model"), "--corpus", corpus,
                 "--sts-dev", sts_dev(tmp, 20), "--batch-size", str(len(SENTENCES)), "--max-steps", "1",
                 "--diagnostics-every", "1", "--objective", "simcse", "--device", "cpu", "--comm", "single",
                 "--metrics-port", "0", "--no-export", "--no-eval-at-start", "--eval-every", "0"])
        check(r.returncode == 0, "train exits 0" + failed_tail(r))
        steps = records(d, "step") if r.returncode == 0 else []
        got = steps[0]["effective_rank"] if steps else None
        want, s = reference_effective_rank(bert, w, b)
        print(f"singular values (numpy, float64): {np.array2string(s, precision=4)}")
        err = abs(got - want) / want if got is not None else float("inf")
        check(err < 1e-4, f"effective rank: simcsepp {got}, numpy SVD {want:.8f}, rel err {err:.2e}")
        # Not vacuous: the squared singular values (an SVD of A^T A) give another rank.
        p2 = s ** 2 / (s ** 2).sum()
        squared = float(np.exp(-(p2 * np.log(p2)).sum()))
        check(abs(squared - want) / want > 100 * 1e-4, f"the check tells S from S^2 ({squared:.4f} vs {want:.4f})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check.exit("effective-rank SVD")


if __name__ == "__main__":
    main()
