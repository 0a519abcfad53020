#!/usr/bin/env python3
"""bench_prep.py - `simcsepp prep` rows/s and peak RSS with 1 and K processes, on a synthetic
corpus of N sentences made by recombining halves of the default corpus's sentences (fixed seed,
5% exact copies so --dedup has work). Prints a markdown table for docs/data.md.

usage: bench_prep.py BUILD_DIR WORK_DIR [--sentences 3000000] [--processes 1,2] [--dedup no,yes] [--keep] [SHARED_DATA]
Peak RSS is /usr/bin/time's maximum resident set size of each simcsepp process (the largest
rank's under mpirun). The corpus is written once to WORK_DIR/synthetic-N.txt and reused.
"""
import argparse
import glob
import os
import random
import re
import subprocess
import time

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("work")
ap.add_argument("data", nargs="?", default=os.path.join(os.path.dirname(__file__), "../../shared/data"))
ap.add_argument("--sentences", type=int, default=3_000_000)
ap.add_argument("--processes", default="1,2")
ap.add_argument("--threads", type=int, default=1, help="tokenizer threads per process")
ap.add_argument("--dedup", default="no,yes", help="which of no/yes to run for every process count")
ap.add_argument("--keep", action="store_true", help="keep each prepared corpus (WORK_DIR/out-K-D) for bench_reader_io")
a = ap.parse_args()
binary = os.path.join(a.build, "bin", "simcsepp")
vocab = os.path.join(a.data, "vocab", "bert-base-uncased-vocab.txt")
os.makedirs(a.work, exist_ok=True)
corpus = os.path.join(a.work, f"synthetic-{a.sentences}.txt")

if not os.path.exists(corpus):
    # Sentence = the first half of one default-corpus sentence + the second half of another
    # (51,799^2 combinations), and 5% exact copies of earlier sentences.
    heads, tails = [], []
    for f in sorted(glob.glob(os.path.join(a.data, "corpus", "*.txt"))):
        with open(f, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                w = line.split()
                if len(w) >= 2:
                    heads.append(" ".join(w[: len(w) // 2]))
                    tails.append(" ".join(w[len(w) // 2:]))
    rng = random.Random(1234)
    n, made = len(heads), []
    with open(corpus + ".tmp", "w", encoding="utf-8") as out:
        for i in range(a.sentences):
            if made and rng.random() < 0.05:
                s = made[int(rng.random() * len(made))]
            else:
                s = heads[int(rng.random() * n)] + " " + tails[int(rng.random() * n)]
                if len(made) < 100_000:
                    made.append(s)
            out.write(s + "\n")
    os.rename(corpus + ".tmp", corpus)
size_mb = os.path.getsize(corpus) / 1e6

rows = []
for dedup in [d == "yes" for d in a.dedup.split(",")]:
    for k in [int(x) for x in a.processes.split(",")]:
        out = os.path.join(a.work, f"out-{k}-{int(dedup)}")
        subprocess.run(["rm", "-rf", out], check=True)
        cmd = ["/usr/bin/time", "-f", "RSS_KB=%M", binary, "prep", corpus, "-o", out, "--vocab", vocab, "--no-progress",
               "--threads", str(a.threads)] + (["--dedup"] if dedup else [])
        if k > 1:
            cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", str(k)] + cmd
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        t0 = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.time() - t0
        if p.returncode != 0:
            raise SystemExit(p.stdout + p.stderr)
        rss = max(int(x) for x in re.findall(r"RSS_KB=(\d+)", p.stderr)) / 1024
        total = int(re.search(r"total: \d+ lines, (\d+) rows", p.stdout).group(1))
        rows.append((k, dedup, total, wall, total / wall, rss))
        if not a.keep:
            subprocess.run(["rm", "-rf", out], check=True)
        print(f"{k} processes, dedup={dedup}: {total} rows in {wall:.1f} s, {total / wall:,.0f} rows/s, peak RSS {rss:.0f} MiB",
              flush=True)

print(f"\ncorpus: {a.sentences:,} sentences, {size_mb:.0f} MB; --threads {a.threads} per process; wall time of the "
      f"whole command (mpirun start-up included)\n")
print("| processes | --dedup | rows written | wall s | rows/s | peak RSS per process (MiB) |")
print("|---|---|---|---|---|---|")
for k, dedup, total, wall, rate, rss in rows:
    print(f"| {k} | {'yes' if dedup else 'no'} | {total:,} | {wall:.1f} | {rate:,.0f} | {rss:.0f} |")
