"""Parity of `simcsepp eval` with a Python reference of the SentEval STS protocol (SimCSE's "all"
setting): every per-task and per-subset/split number equals transformers + scipy to 0.01.

The shared data has only STS12, STS-B train/dev and SICK train/trial. So that every code path
runs, the test assembles a temporary SentEval layout (data/downstream style: STS/..., SICK/) where
STS-B's dev file doubles as its "test" split and SICK's trial file doubles as its "test" split
(SICK_test_annotated.txt, rewritten with CRLF line endings as the real one has); some STS-B test
rows get extra columns and some STS12 gold lines are blanked (those pairs must be skipped).
The files are used whole (3,103 STS12 pairs, 1,500 STS-B, 500 SICK): with small sets one swap
of two nearly equal cosines (fp32 rounding, ~1e-7) can move Spearman x 100 by several 0.01;
with these sizes a swap moves it by < 0.002. STS13-16 are absent and must be reported missing
(not zero), the average null. Poolers checked: cls_before_pooler, avg, avg_first_last.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy.stats import spearmanr

from eval_common import BIN, SHARED, Reference, make_tiny_model

TOL = 0.01
CAP_SUBSET, CAP_SPLIT = None, None  # whole files (see above)
STS12 = ["MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"]


def head(path, n):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    return lines if n is None else lines[:n]


def write(path, lines, newline="\n"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("".join(line + newline for line in lines))


def build_layout(root):
    src = os.path.join(SHARED, "sts")
    for k, subset in enumerate(STS12):
        inputs = head(f"{src}/STS12-en-test/STS.input.{subset}.txt", CAP_SUBSET)
        gold = head(f"{src}/STS12-en-test/STS.gs.{subset}.txt", CAP_SUBSET)
        gold[3 + k] = ""  # unscored pair: SentEval skips it
        write(f"{root}/STS/STS12-en-test/STS.input.{subset}.txt", inputs)
        write(f"{root}/STS/STS12-en-test/STS.gs.{subset}.txt", gold)
    dev = head(f"{src}/STSBenchmark/sts-dev.csv", CAP_SPLIT)
    write(f"{root}/STS/STSBenchmark/sts-dev.csv", dev)
    test = [row + ("\textra-source\tmore" if i % 7 == 0 else "") for i, row in enumerate(dev)]
    write(f"{root}/STS/STSBenchmark/sts-test.csv", test)
    trial = head(f"{src}/SICK/SICK_trial.txt", None if CAP_SPLIT is None else CAP_SPLIT + 1)
    write(f"{root}/SICK/SICK_trial.txt", trial)
    write(f"{root}/SICK/SICK_test_annotated.txt", trial, newline="\r\n")


# --- the reference protocol, as SentEval reads and scores it ----------------------------------

def read_sts(root, subset):
    lines = open(f"{root}/STS/STS12-en-test/STS.input.{subset}.txt", encoding="utf8").read().splitlines()
    s1, s2 = zip(*[line.split("\t") for line in lines])
    raw = np.array(open(f"{root}/STS/STS12-en-test/STS.gs.{subset}.txt", encoding="utf8").read().splitlines())
    keep = raw != ""
    return ([" ".join(s.split()) for s, k in zip(s1, keep) if k], [" ".join(s.split()) for s, k in zip(s2, keep) if k],
            [float(x) for x in raw[keep]])


def read_stsb(path):
    a, b, y = [], [], []
    for line in open(path, encoding="utf-8"):
        t = line.strip().split("\t")
        a.append(" ".join(t[5].split()))
        b.append(" ".join(t[6].split()))
        y.append(float(t[4]))
    return a, b, y


def read_sick(path):
    a, b, y = [], [], []
    for i, line in enumerate(open(path, encoding="utf-8")):
        if i == 0:
            continue
        t = line.strip().split("\t")
        a.append(" ".join(t[1].split()))
        b.append(" ".join(t[2].split()))
        y.append(float(t[3]))
    return a, b, y


POOLERS = ["cls_before_pooler", "avg", "avg_first_last"]
_cache = {}


def cosines(ref, a, b, pooler):
    """SentEval's cosine, with two numerical choices simcsepp also makes (docs/evaluation.md): each
    distinct sentence is embedded once, and the cosine accumulates in float64 before rounding to
    float32, so identical pairs tie exactly at 1 instead of at 1 +- 1 ulp of rounding noise (the
    SMT subsets have dozens of such pairs; the noise would move their Spearman by ~0.02)."""
    key = (tuple(a), tuple(b))
    if key not in _cache:  # one encoder pass over the distinct sentences serves all poolers
        distinct = sorted(set(a) | set(b))
        emb = ref.embed_poolers(distinct, POOLERS)
        row = {s: i for i, s in enumerate(distinct)}
        _cache[key] = {p: (emb[p][[row[s] for s in a]], emb[p][[row[s] for s in b]]) for p in POOLERS}
    ea, eb = (e.astype(np.float64) for e in _cache[key][pooler])
    cos = (ea * eb).sum(1) / np.sqrt((ea * ea).sum(1) * (eb * eb).sum(1))
    return [float(c) for c in np.nan_to_num(cos).astype(np.float32)]


def reference_numbers(ref, root, pooler):
    got = {}
    all_sys, all_gold = [], []
    for subset in STS12:
        a, b, y = read_sts(root, subset)
        c = cosines(ref, a, b, pooler)
        got[("STS12", subset)] = (100 * spearmanr(c, y).correlation, len(y))
        all_sys += c
        all_gold += y
    got[("STS12", "all")] = (100 * spearmanr(all_sys, all_gold).correlation, len(all_gold))
    for split in ["dev", "test"]:
        a, b, y = read_stsb(f"{root}/STS/STSBenchmark/sts-{split}.csv")
        got[("STSBenchmark", split)] = (100 * spearmanr(cosines(ref, a, b, pooler), y).correlation, len(y))
    for split, name in [("trial", "SICK_trial.txt"), ("test", "SICK_test_annotated.txt")]:
        a, b, y = read_sick(f"{root}/SICK/{name}")
        got[("SICKRelatedness", split)] = (100 * spearmanr(cosines(ref, a, b, pooler), y).correlation, len(y))
    return got


def simcsepp_numbers(result):
    got = {}
    for task, t in result["tasks"].items():
        if t["scored"]:
            got[(task, t["setting"])] = (t["spearman_x100"], t["pairs"])
        for part, p in t["parts"].items():
            if p["scored"]:
                got[(task, part)] = (p["spearman_x100"], p["pairs"])
    return got


def main():
    failures = []
    with tempfile.TemporaryDirectory() as work:
        model_dir, data = os.path.join(work, "model"), os.path.join(work, "downstream")
        model = make_tiny_model(model_dir)
        build_layout(data)
        ref = Reference(model)
        for pooler in POOLERS:
            out = os.path.join(work, f"{pooler}.json")
            cmd = [BIN, "eval", "--model", model_dir, "--senteval-data", data, "--pooler", pooler,
                   "--device", "cpu", "--batch-size", "32", "--output", out]
            run = subprocess.run(cmd, capture_output=True, text=True)
            print(run.stdout)
            if run.returncode != 0:
                sys.exit(f"FAIL: {' '.join(cmd)} exited {run.returncode}:\n{run.stderr}")
            result = json.load(open(out))
            want, got = reference_numbers(ref, data, pooler), simcsepp_numbers(result)
            if set(want) != set(got):
                failures.append(f"{pooler}: scored parts differ: simcsepp {sorted(got)} vs reference {sorted(want)}")
            for key in sorted(want):
                if key not in got:
                    continue
                (w, wn), (g, gn) = want[key], got[key]
                ok = abs(w - g) <= TOL and wn == gn
                print(f"  {pooler:18s} {key[0]:16s} {key[1]:18s} simcsepp {g:8.4f} reference {w:8.4f} "
                      f"pairs {gn}/{wn} {'ok' if ok else 'MISMATCH'}")
                if not ok:
                    failures.append(f"{pooler} {key}: simcsepp {g} ({gn} pairs) vs reference {w} ({wn} pairs)")
            # Absent tasks are missing, never zero; no average over a partial suite.
            for task in ["STS13", "STS14", "STS15", "STS16"]:
                t = result["tasks"][task]
                if t["scored"] or "spearman_x100" in t or "not found" not in t["missing"]:
                    failures.append(f"{pooler}: {task} should be reported missing: {t}")
            if result["average"] is not None or result["missing_tasks"] != ["STS13", "STS14", "STS15", "STS16"]:
                failures.append(f"{pooler}: average must be null with 4 missing tasks: {result['average']}, "
                                f"{result['missing_tasks']}")
            if "MISSING" not in run.stdout:
                failures.append(f"{pooler}: the table does not show the missing tasks")
            mean3 = np.mean([want[("STS12", "all")][0], want[("STSBenchmark", "test")][0],
                             want[("SICKRelatedness", "test")][0]])
            if abs(result["average_of_scored"] - mean3) > TOL:
                failures.append(f"{pooler}: average_of_scored {result['average_of_scored']} vs {mean3}")
    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print(f"PASS: every number within {TOL} of the Python reference")


if __name__ == "__main__":
    main()
