"""`simcsepp train --chunk-size` (gradient caching) end to end through the CLI:
1. a negative chunk size is refused before any work (exit 1, the option named, a HINT);
2. on a dropout-free tiny BERT (so chunked and unchunked see the same network function),
   --chunk-size 3 with --batch-size 8 (chunks 3 + 3 + 2) trains with the losses of the unchunked
   run, step by step, to fp32 rounding (the encoder's matmuls over 3 rows and over 8 rows round
   differently), and the log announces the chunks;
3. --chunk-size >= --batch-size turns chunking off (logged) and is the unchunked run exactly.
The exactness proofs with dropout, every objective and several ranks are in C++
(tests/trainer/chunked_step_test.cpp, tests/trainer/chunked/)."""
import json
import os
import shutil
import tempfile

import numpy as np

from tiny_train_fixture import Checks, failed_tail, make_model, prep_corpus, run, step_losses, sts_dev, wiki_lines

check = Checks()


def main():
    tmp = tempfile.mkdtemp(prefix="simcsepp_chunk_size_")
    try:
        model = make_model(os.path.join(tmp, "model"))
        cfg_path = os.path.join(model, "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["hidden_dropout_prob"] = cfg["attention_probs_dropout_prob"] = 0.0
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        corpus = prep_corpus(tmp, "corpus", wiki_lines(160))
        dev = sts_dev(tmp)
        base = ["--model", model, "--corpus", corpus, "--sts-dev", dev, "--batch-size", "8", "--device", "cpu",
                "--comm", "single", "--metrics-port", "0", "--no-export", "--no-eval-at-start", "--eval-every", "0",
                "--lr", "1e-3", "--max-steps", "6"]

        # 1. Refused before any work.
        bad = os.path.join(tmp, "bad")
        r = run(["train", "--run-dir", bad, "--chunk-size", "-1"] + base)
        check(r.returncode == 1 and "--chunk-size" in r.stderr and "HINT" in r.stderr,
              f"--chunk-size -1: exit 1 naming the option with a HINT (rc {r.returncode}: {r.stderr[-300:]!r})")
        check(not os.path.exists(os.path.join(bad, "metrics.jsonl")), "the refused run trained nothing")

        # 2. Chunks of 3, 3 and 2 sentences.
        plain, chunked, whole = (os.path.join(tmp, n) for n in ("plain", "chunked", "whole"))
        rp = run(["train", "--run-dir", plain] + base)
        rc = run(["train", "--run-dir", chunked, "--chunk-size", "3"] + base)
        check(rp.returncode == 0 and rc.returncode == 0, "both runs exit 0" + failed_tail(rp) + failed_tail(rc))
        check("micro-batch of 8 in 3 chunks of <= 3 sentences" in rc.stderr, "the log announces 3 chunks")
        lp, lc = step_losses(plain), step_losses(chunked)
        check(sorted(lp) == list(range(1, 7)) and sorted(lc) == sorted(lp), f"6 updates each ({len(lp)}, {len(lc)})")
        if sorted(lc) == sorted(lp) == list(range(1, 7)):
            a, b = np.array([lp[s] for s in lp]), np.array([lc[s] for s in lp])
            err = np.max(np.abs(a - b) / np.abs(a))
            check(err < 1e-4, f"chunked losses = unchunked losses step by step (max rel diff {err:.2e})")
            check(np.ptp(a) > 1e-3, f"the model trains: losses move ({a.min():.4f} .. {a.max():.4f})")

        # 3. A chunk as large as the batch: off, and exactly the unchunked run.
        rw = run(["train", "--run-dir", whole, "--chunk-size", "8"] + base)
        check(rw.returncode == 0 and "gradient caching off" in rw.stderr,
              "--chunk-size 8 with --batch-size 8 logs that chunking is off" + failed_tail(rw))
        check(rw.returncode == 0 and step_losses(whole) == lp, "and its losses are the unchunked run's, exactly")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check.exit("chunk-size")


if __name__ == "__main__":
    main()
