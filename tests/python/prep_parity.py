#!/usr/bin/env python3
"""prep_parity.py - `simcsepp prep` output checked with independent Python tools.

Runs the real CLI on shared/data/nli/snli_triplets.csv and corpus/wiki1m_head.txt, then reads the
shards with h5py and checks, against Python's csv module + Hugging Face `tokenizers` (test-only
oracles): row counts, every row's ids ([CLS] ... [SEP], truncated to max_len 32), source line
numbers, manifest counts and checksums, uint16 storage, and that a second run is a no-op.
"""
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import h5py
from tokenizers import BertWordPieceTokenizer

DATA = os.environ.get("SIMCSEPP_SHARED_DATA", os.path.join(os.path.dirname(__file__), "../../../shared/data"))
BIN = os.environ.get("SIMCSEPP_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin/simcsepp"))
VOCAB = os.path.join(DATA, "vocab", "bert-base-uncased-vocab.txt")
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


def prep(inputs, out, *extra):
    proc = subprocess.run([BIN, "prep", *inputs, "-o", out, "--vocab", VOCAB, "--no-progress", *extra],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"FAIL: simcsepp prep exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def read_rows(out):
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    columns = {c: [] for c in manifest["columns"]}
    lines = []
    for shard in manifest["shards"]:
        path = os.path.join(out, shard["file"])
        with open(path, "rb") as f:
            check(hashlib.sha256(f.read()).hexdigest() == shard["sha256"], f"checksum of {path}")
        with h5py.File(path, "r") as h:
            check(h.attrs["first_row"] == shard["first_row"] and h.attrs["rows"] == shard["rows"], f"attrs {path}")
            for c in manifest["columns"]:
                ids, offsets = h[c]["ids"][:], h[c]["offsets"][:]
                check(str(ids.dtype) == "uint16", f"{path}:{c} stored as {ids.dtype}")
                columns[c] += [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]
            lines += h["source_line"][:].tolist()
    return manifest, columns, lines


def main():
    tok = BertWordPieceTokenizer(VOCAB, lowercase=True)
    tok.enable_truncation(max_length=32)
    with tempfile.TemporaryDirectory() as tmp:
        # Supervised CSV: Python's csv module is the independent parser.
        out = os.path.join(tmp, "nli")
        prep([os.path.join(DATA, "nli", "snli_triplets.csv")], out, "--shard-rows", "2000")
        manifest, columns, lines = read_rows(out)
        with open(os.path.join(DATA, "nli", "snli_triplets.csv"), encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            records = [(reader.line_num, r) for r in reader if r and all(x.strip() for x in r)]
        check(header == ["sent0", "sent1", "hard_neg"], f"header {header}")
        check(manifest["total_rows"] == len(records) == 5864, f"rows {manifest['total_rows']} vs {len(records)}")
        check(len(manifest["shards"]) == 3, f"{len(manifest['shards'])} shards")
        check(lines == [n for n, _ in records], "source line numbers")
        for i, name in enumerate(header):
            expected = [e.ids for e in tok.encode_batch([r[i] for _, r in records])]
            bad = [k for k, (a, b) in enumerate(zip(expected, columns[name])) if a != b]
            check(not bad, f"column {name}: {len(bad)} rows differ, first {bad[:5]}")

        # Plain text.
        out = os.path.join(tmp, "wiki")
        path = os.path.join(DATA, "corpus", "wiki1m_head.txt")
        summary = prep([path], out)
        manifest, columns, lines = read_rows(out)
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            text = f.read().split("\n")
        if text and text[-1] == "":
            text.pop()
        kept = [(n + 1, t) for n, t in enumerate(text) if t.strip()]
        check(manifest["total_rows"] == len(kept), f"rows {manifest['total_rows']} vs {len(kept)}")
        check(manifest["inputs"][0]["lines"] == len(text), "line count")
        check(lines == [n for n, _ in kept], "source line numbers (text)")
        expected = [e.ids for e in tok.encode_batch([t for _, t in kept])]
        truncated = sum(1 for e in tok.encode_batch([t for _, t in kept]) if e.overflowing)
        check(expected == columns["text"], "text ids differ from the oracle")
        check(manifest["inputs"][0]["truncated"] == truncated,
              f"truncated {manifest['inputs'][0]['truncated']} vs oracle {truncated}")
        check(f"{len(kept)} rows" in summary, "summary prints the row count")
        again = prep([path], out)
        check("already complete" in again, "second run is a no-op")

    if failures:
        sys.exit(f"FAIL: {len(failures)} checks failed")
    print("PASS")


if __name__ == "__main__":
    main()
