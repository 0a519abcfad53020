"""trainer_run.py - `simcsepp train` end to end on CPU with a tiny random BERT and a tiny corpus:

1. resume: a run of 2S steps and a run SIGKILLed after S+2 steps (checkpoint at S) then resumed
   with --resume auto give identical per-step losses and bit-identical final parameters;
   a corrupt newest checkpoint is skipped with a warning by --resume auto;
2. outputs: metrics.jsonl (step/eval/summary lines), best/, exported model/, summary.json;
   precision: every evaluation runs in fp32 by default, also after bf16 steps (--precision bf16,
   CPU autocast here), as `simcsepp eval` scores;
3. numerical safety: a model with a NaN weight skips every update (parameters unchanged), aborts
   after --max-skipped-steps with a clear message and a checkpoint;
4. preemption: SIGUSR1 after the first logged step -> checkpoint at the signal's step and exit
   code 42; --resume auto continues from that step (and trains only the steps after it);
5. bad input: batch 0, negative lr, unknown precisions, max_len above the model's positions, a corpus made with
   another vocabulary, a model directory with a missing tensor: exit 1 before any work, with the
   option/file named.
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_train_fixture import make_model  # noqa: E402  (one tiny model for every CLI test)

BIN = os.environ.get("SIMCSEPP_BIN", "build/bin/simcsepp")
DATA = os.environ.get("SIMCSEPP_SHARED_DATA", "../shared/data")
VOCAB = os.path.join(DATA, "vocab", "bert-base-uncased-vocab.txt")
S = 4
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(args, env=None, **kw):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BIN] + args, env=e, capture_output=True, text=True, **kw)


def read_ckpt(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:16] == b"SIMCSEPP-CKPT-1\n"
    (n,) = struct.unpack("<Q", data[16:24])
    header = json.loads(data[24:24 + n])
    start = 24 + n
    out = {}
    for t in header["tensors"]:
        if t["dtype"] == "float32":
            raw = data[start + t["offset"]: start + t["offset"] + t["bytes"]]
            out[t["name"]] = np.frombuffer(raw, "<f4").reshape(t["shape"])
    return header["meta"], out


def losses(run_dir):
    by_step = {}
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r["kind"] == "step":
                by_step[r["step"]] = r["loss"]  # a resumed run re-logs steps after its checkpoint
    return [by_step[k] for k in sorted(by_step)]


def main():
    tmp = tempfile.mkdtemp(prefix="simcsepp_trainer_run_")
    try:
        model = make_model(os.path.join(tmp, "model"))
        corpus_txt = os.path.join(tmp, "corpus.txt")
        with open(os.path.join(DATA, "corpus", "wiki1m_head.txt")) as f, open(corpus_txt, "w") as out:
            out.writelines(f.readlines()[:400])
        corpus = os.path.join(tmp, "corpus")
        r = run(["prep", "-i", corpus_txt, "-o", corpus, "--vocab", VOCAB, "--max-len", "32",
                 "--shard-rows", "150", "--no-progress"])
        check(r.returncode == 0, "prep of the tiny corpus: " + r.stderr[-300:])
        sts_dev = os.path.join(tmp, "sts-dev.csv")
        with open(os.path.join(DATA, "sts", "STSBenchmark", "sts-dev.csv")) as f, open(sts_dev, "w") as out:
            out.writelines(f.readlines()[:200])
        common = ["--model", model, "--corpus", corpus, "--sts-dev", sts_dev, "--batch-size", "16",
                  "--max-steps", str(2 * S), "--eval-every", str(S), "--checkpoint-every", str(S),
                  "--lr", "1e-4", "--device", "cpu", "--comm", "single", "--metrics-port", "0"]

        # 1+2. Uninterrupted run A.
        run_a = os.path.join(tmp, "run_a")
        t0 = time.time()
        r = run(["train", "--run-dir", run_a] + common)
        check(r.returncode == 0, f"run A exits 0 ({time.time() - t0:.1f} s): " + r.stderr[-500:])
        la = losses(run_a)
        check(len(la) == 2 * S and all(np.isfinite(la)), f"run A logged {len(la)} finite losses")
        records = [json.loads(l) for l in open(os.path.join(run_a, "metrics.jsonl"))]
        kinds = [rec["kind"] for rec in records]
        initial = [rec for rec in records if rec["kind"] == "eval" and rec.get("initial")]
        check(kinds.count("eval") == 3 and len(initial) == 1 and initial[0]["step"] == 0
              and kinds[-1] == "summary", f"metrics kinds {kinds}")
        summary = json.load(open(os.path.join(run_a, "summary.json")))
        check(summary["initial_sts_dev_spearman_x100"] == initial[0]["sts_dev_spearman_x100"],
              "summary reports the dev score before training")
        check(summary["best_step"] != 0, "the starting model is never selected as best")
        check("1 endpoint(s) announced" in r.stderr and "metrics endpoint disabled" not in r.stderr,
              "the rank served /metrics during the run (civetweb threads start next to libtorch)")
        targets = json.load(open(os.path.join(run_a, "prometheus_targets.json")))
        check(targets[0]["targets"] == [], "a cleanly finished run empties its Prometheus targets")
        check(summary["best_step"] in (S, 2 * S), f"summary best step {summary['best_step']}")
        best = json.load(open(os.path.join(run_a, "best", "best.json")))
        check(best["step"] == summary["best_step"], "best/best.json agrees with the summary")
        check(os.path.isfile(os.path.join(run_a, "model", "config.json")), "best model exported to run/model")
        evals = [rec for rec in records if rec["kind"] == "eval"]
        check(all(rec["precision"] == "fp32" for rec in evals), "run A evaluates in fp32")
        # The interval checkpoint is written in the background (the step waits for the snapshot
        # only); the final one synchronously, before the run ends.
        ckpt_recs = [(rec["step"], rec["reason"], rec["background"]) for rec in records if rec["kind"] == "checkpoint"]
        check(ckpt_recs == [(S, "interval", True), (2 * S, "final", False)], f"checkpoint records {ckpt_recs}")
        check(all(rec["blocked_seconds"] >= 0 for rec in records if rec["kind"] == "checkpoint"),
              "checkpoint records say how long the step was blocked")
        check("fp32 step, fp32 evaluation" in r.stderr, "run A names its precisions")

        # A bf16 step (CPU autocast) still evaluates in fp32 by default, as `simcsepp eval`.
        run_bf = os.path.join(tmp, "run_bf16")
        bf_args = list(common)
        bf_args[bf_args.index("--max-steps") + 1] = "2"
        bf_args[bf_args.index("--checkpoint-every") + 1] = "1"
        r = run(["train", "--run-dir", run_bf, "--precision", "bf16", "--no-export", "--sync-checkpoints"] + bf_args)
        check(r.returncode == 0, "bf16 run exits 0: " + r.stderr[-500:])
        check("bf16 step, fp32 evaluation" in r.stderr, "bf16 run names its precisions")
        bf_records = [json.loads(l) for l in open(os.path.join(run_bf, "metrics.jsonl"))]
        bf_evals = [rec for rec in bf_records if rec["kind"] == "eval"]
        check(bf_evals and all(rec["precision"] == "fp32" for rec in bf_evals), "bf16 training evaluates in fp32")
        check(all(np.isfinite(losses(run_bf))), "bf16 run losses are finite")
        bf_ckpts = [(rec["step"], rec["background"]) for rec in bf_records if rec["kind"] == "checkpoint"]
        check(bf_ckpts == [(1, False), (2, False)], f"--sync-checkpoints writes every checkpoint in the step: {bf_ckpts}")

        # 1. Killed after S+2 steps (checkpoint at S), then resumed.
        run_b = os.path.join(tmp, "run_b")
        r = run(["train", "--run-dir", run_b] + common, env={"SIMCSEPP_TEST_KILL_AFTER_STEP": str(S + 2)})
        check(r.returncode == -signal.SIGKILL, f"run B killed by SIGKILL (rc {r.returncode})")
        r = run(["train", "--run-dir", run_b, "--resume", "auto"] + common)
        check(r.returncode == 0, "run B resumed and finished: " + r.stderr[-500:])
        lb = losses(run_b)
        check(la == lb, f"identical loss sequences:\n  A {la}\n  B {lb}")
        _, pa = read_ckpt(os.path.join(run_a, "checkpoints", f"step-{2 * S:08d}.ckpt"))
        meta_b, pb = read_ckpt(os.path.join(run_b, "checkpoints", f"step-{2 * S:08d}.ckpt"))
        names = [k for k in pa if k.startswith("model/")]
        same = all(np.array_equal(pa[k], pb[k]) for k in names)
        check(len(names) > 10 and same, f"identical final parameters ({len(names)} tensors)")
        check(meta_b["best_step"] == summary["best_step"], "resumed run kept the best step")

        # Corrupt newest checkpoint: --resume auto skips it with a warning, uses the previous one.
        newest = os.path.join(run_b, "checkpoints", f"step-{2 * S:08d}.ckpt")
        with open(newest, "r+b") as f:
            f.seek(-100, 2)
            b = f.read(1)
            f.seek(-100, 2)
            f.write(bytes([b[0] ^ 0xFF]))
        r = run(["train", "--run-dir", run_b, "--resume", "auto", "--no-export"] + common)
        check(r.returncode == 0 and "skipping corrupt checkpoint" in r.stderr and f"at step {S}" in r.stderr,
              "corrupt newest checkpoint skipped, resumed from step S: " + r.stderr[-400:])
        _, pc = read_ckpt(newest)
        check(all(np.array_equal(pa[k], pc[k]) for k in names), "re-run from step S reproduces the final parameters")

        # 3. Non-finite: every update skipped, abort after 3 with a checkpoint of the unchanged state.
        nan_model = make_model(os.path.join(tmp, "nan_model"), nan_weight=True)
        run_nan = os.path.join(tmp, "run_nan")
        r = run(["train", "--run-dir", run_nan, "--max-skipped-steps", "3"] +
                [a if a != model else nan_model for a in common])
        # Errors and their HINT go to stderr (stdout stays clean for machine-readable output).
        check(r.returncode == 1 and "consecutive updates skipped" in r.stderr
              and "HINT: lower --lr" in r.stderr and "--max-skipped-steps" in r.stderr,
              f"NaN model aborts with the option and a HINT on stderr (rc {r.returncode}): " + r.stderr[-400:])
        check("batch rows" in r.stderr, "skipped steps are logged with their batch rows")
        ckpts = sorted(os.listdir(os.path.join(run_nan, "checkpoints")))
        check(len(ckpts) == 1, f"checkpoint of the last good state written: {ckpts}")
        _, pn = read_ckpt(os.path.join(run_nan, "checkpoints", ckpts[-1]))
        init = load_file(os.path.join(nan_model, "model.safetensors"))
        unchanged = all(np.array_equal(np.nan_to_num(pn["model/" + k]), np.nan_to_num(init[k].numpy()))
                        for k in init)
        check(unchanged, "no parameter changed by skipped updates")

        # 4. Preemption: SIGUSR1 once training runs -> checkpoint + exit 42; then resume.
        run_p = os.path.join(tmp, "run_p")
        long = [a if a != str(2 * S) else "400" for a in common]
        p = subprocess.Popen([BIN, "train", "--run-dir", run_p] + long, stderr=subprocess.PIPE, text=True)
        metrics = os.path.join(run_p, "metrics.jsonl")

        def records_of(path, kind):
            """Complete metrics.jsonl records of one kind (a line being written is skipped)."""
            if not os.path.exists(path):
                return []
            with open(path) as f:
                lines = [line for line in f.read().split("\n")[:-1] if line]
            return [rec for rec in map(json.loads, lines) if rec["kind"] == kind]
        # Wait for a training step record: the step-0 eval line mentions "step" too.
        deadline = time.time() + 120
        while time.time() < deadline and not records_of(metrics, "step") and p.poll() is None:
            time.sleep(0.2)
        seen = max((rec["step"] for rec in records_of(metrics, "step")), default=0)
        check(seen >= 1, f"the run trained before the signal (last logged step {seen})")
        p.send_signal(signal.SIGUSR1)
        _, err = p.communicate(timeout=300)
        check(p.returncode == 42, f"SIGUSR1 -> exit 42 (rc {p.returncode}): " + err[-300:])
        ck = sorted(os.listdir(os.path.join(run_p, "checkpoints")))
        check(len(ck) >= 1, f"preemption checkpoint written: {ck}")
        saved = int(ck[-1][5:13])  # the newest: periodic ones (every S steps) are older
        preempted = records_of(metrics, "preempted")
        check(len(preempted) == 1 and preempted[0]["step"] == saved and seen <= saved < 400,
              f"checkpointed at the signal's step: logged {seen}, preempted {preempted}, checkpoint {saved}")
        logged_before = len(records_of(metrics, "step"))
        r = run(["train", "--run-dir", run_p, "--resume", "auto", "--no-export"] +
                [a if a != "400" else str(saved + 2) for a in long])
        check(r.returncode == 0 and re.search(rf"resumed from \S+ at step {saved}\b", r.stderr),
              f"preempted run resumes at step {saved}: " + r.stderr[-300:])
        resumed_steps = [rec["step"] for rec in records_of(metrics, "step")[logged_before:]]
        check(resumed_steps == [saved + 1, saved + 2],
              f"the resumed run trained steps {saved + 1} and {saved + 2}, no others: {resumed_steps}")

        # 5. Bad input, each rejected before any work with the option or file named.
        def bad(args, needle, what):
            rb = run(["train", "--run-dir", os.path.join(tmp, "run_bad")] + args)
            check(rb.returncode == 1 and needle in rb.stderr, f"{what}: rc {rb.returncode}: {rb.stderr.strip()[-200:]}")

        def with_opt(key, value, base=common):
            out = list(base)
            if key in out:
                out[out.index(key) + 1] = value
            else:
                out += [key, value]
            return out

        bad(with_opt("--batch-size", "0"), "--batch-size", "batch 0")
        bad(with_opt("--lr", "-1e-5"), "--lr", "negative lr")
        bad(with_opt("--max-len", "128"), "max_position_embeddings", "max_len above the model's positions")
        bad(with_opt("--precision", "fp16"), "--precision", "unknown precision")
        bad(with_opt("--eval-precision", "auto"), "--eval-precision", "unknown evaluation precision")
        other_vocab = os.path.join(tmp, "other_vocab.txt")
        lines = open(VOCAB).read().split("\n")
        lines[2000] = "zzzqqq"
        open(other_vocab, "w").write("\n".join(lines))
        other = os.path.join(tmp, "corpus_other")
        run(["prep", "-i", corpus_txt, "-o", other, "--vocab", other_vocab, "--max-len", "32", "--no-progress"])
        bad(with_opt("--corpus", other), "another vocabulary", "corpus with another vocabulary")
        missing = make_model(os.path.join(tmp, "missing_model"),
                             drop_tensor="bert.encoder.layer.1.attention.self.query.weight")
        bad(with_opt("--model", missing), "query.weight", "model with a missing tensor")
        check(not os.path.exists(os.path.join(tmp, "run_bad", "checkpoints")), "bad input wrote no checkpoint")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("FAILED:" if failures else "all trainer run checks passed", *failures, sep="\n  ")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
