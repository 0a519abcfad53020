#!/usr/bin/env python3
"""bench_tokenizer.py - simcsepp tokenizer vs Hugging Face `tokenizers` (Rust), same sentences,
same run; plus the reader's sentences/s. Prints a markdown table for docs/data.md.

usage: bench_tokenizer.py BUILD_DIR [SHARED_DATA]
HF is timed in subprocesses so RAYON_NUM_THREADS can differ per row (it is read at import).
Both sides tokenize without [CLS]/[SEP]; the best of 3 repeats is reported.
"""
import glob
import json
import os
import subprocess
import sys

build = sys.argv[1]
data = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../../shared/data")
vocab = os.path.join(data, "vocab", "bert-base-uncased-vocab.txt")
files = sorted(glob.glob(os.path.join(data, "corpus", "*.txt")))
binary = os.path.join(build, "bin", "bench_tokenizer")

HF = r"""
import sys, time, json
from tokenizers import BertWordPieceTokenizer
vocab, files = sys.argv[1], sys.argv[2:]
lines = []
for f in files:
    with open(f, encoding="utf-8", errors="replace", newline="") as fh:
        lines += fh.read().split("\n")[:-1]
tok = BertWordPieceTokenizer(vocab, lowercase=True)
best = 1e30
for _ in range(3):
    t0 = time.perf_counter()
    enc = tok.encode_batch(lines, add_special_tokens=False)
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"sentences": len(lines), "seconds": best, "sentences_per_s": len(lines) / best}))
"""


def hf(threads):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", HF, vocab, *files], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def ours(threads):
    out = subprocess.run([binary, "tokenize", vocab, str(threads), "3", *files], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


rows = []
for threads in (1, 2):
    h, o = hf(threads), ours(threads)
    rows.append((threads, o["sentences"], o["sentences_per_s"], h["sentences_per_s"]))
reader = json.loads(subprocess.run([binary, "reader", vocab, "512", "2000", *files], capture_output=True, text=True,
                                   check=True).stdout)

print(f"| threads | sentences | simcsepp sentences/s | HF tokenizers sentences/s | ratio |")
print(f"|---|---|---|---|---|")
for t, n, a, b in rows:
    print(f"| {t} | {n} | {a:,.0f} | {b:,.0f} | {a / b:.2f}x |")
print()
print(f"reader: {reader['sentences_per_s']:,.0f} sentences/s per rank (batch {reader['batch']}, "
      f"{reader['steps']} steps, {reader['rows']} rows, window 2 shards of 10,000, warm page cache); "
      f"prep: {reader['prep_rows_per_s']:,.0f} rows/s")
