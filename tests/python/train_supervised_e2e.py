"""Supervised SimCSE end to end on a 3-column corpus: SNLI triplets (sent0, sent1, hard_neg) from
../shared/data/nli -> `simcsepp prep` -> `simcsepp train --objective supervised` -> exported model
scored by `simcsepp eval`. Checked: the corpus keeps 3 columns, the run trains (finite losses,
evaluations, export), the hard negatives enter the loss (the first update's loss moves with
--hard-negative-weight, which only scales them; w = 1 reproduces the run), the exported model is
scored by `simcsepp eval`, and a 1-column corpus is refused for the supervised objective."""
import json
import os
import shutil
import tempfile

import numpy as np

from tiny_train_fixture import DATA, Checks, failed_tail, make_model, prep_corpus, records, run, sts_dev, wiki_lines

check = Checks()
B = 8


def main():
    tmp = tempfile.mkdtemp(prefix="simcsepp_supervised_")
    try:
        model = make_model(os.path.join(tmp, "model"))
        with open(os.path.join(DATA, "nli", "snli_triplets.csv")) as f:
            lines = f.readlines()[:1 + 96]  # header + 96 triplets = 12 updates of 8
        corpus = prep_corpus(tmp, "nli", lines, suffix=".csv")
        manifest = json.load(open(os.path.join(corpus, "manifest.json")))
        check(len(manifest["columns"]) == 3 and manifest["total_rows"] == 96,
              f"prep keeps 3 columns and 96 rows: {manifest['columns']}, {manifest['total_rows']}")
        dev = sts_dev(tmp)
        common = ["--model", model, "--corpus", corpus, "--sts-dev", dev, "--objective", "supervised",
                  "--batch-size", str(B), "--device", "cpu", "--comm", "single", "--metrics-port", "0",
                  "--lr", "1e-4", "--no-eval-at-start"]
        d = os.path.join(tmp, "run")
        r = run(["train", "--run-dir", d, "--max-steps", "6", "--eval-every", "3"] + common)
        check(r.returncode == 0, "supervised run exits 0" + failed_tail(r))
        steps = records(d, "step") if r.returncode == 0 else []
        check([s["step"] for s in steps] == list(range(1, 7)) and all(np.isfinite(s["loss"]) for s in steps),
              f"6 updates with finite losses: {[round(s['loss'], 4) for s in steps]}")
        check(steps and all(s["tokens"] > 0 for s in steps), "tokens counted")
        check("training supervised for 6 steps" in r.stderr, "the log names the supervised objective")
        check(len(records(d, "eval")) == 2, "evaluated at step 3 and at the end")
        exported = os.path.join(d, "model")
        check(os.path.isfile(os.path.join(exported, "config.json")), "the best model is exported")
        out = os.path.join(tmp, "eval.json")
        layout = os.path.join(tmp, "downstream")  # SentEval's layout: STS/STSBenchmark/
        os.makedirs(os.path.join(layout, "STS", "STSBenchmark"))
        shutil.copy(dev, os.path.join(layout, "STS", "STSBenchmark", "sts-dev.csv"))
        r = run(["eval", "--model", exported, "--senteval-data", layout, "--tasks", "STSBenchmark",
                 "--device", "cpu", "--output", out])
        check(r.returncode == 0 and os.path.isfile(out), "`simcsepp eval` scores the exported model" + failed_tail(r))

        # The hard negatives are in the loss: scaling only them (w) changes the first loss (same
        # weights, data and dropout); w = 1 reproduces the run above.
        first = {}
        for w in ("1", "4"):
            dw = os.path.join(tmp, "w" + w)
            r = run(["train", "--run-dir", dw, "--max-steps", "1", "--eval-every", "0", "--no-export",
                     "--hard-negative-weight", w] + common)
            first[w] = records(dw, "step")[0]["loss"] if r.returncode == 0 else None
        check(steps and first["1"] == steps[0]["loss"], f"same first loss with w = 1: {first['1']} vs {steps[0]['loss'] if steps else None}")
        check(first["1"] is not None and first["4"] is not None and first["4"] > first["1"] + 1e-3,
              f"a larger hard-negative weight raises the first loss: w=1 {first['1']}, w=4 {first['4']}")

        # A 1-column corpus has no positives/hard negatives for the supervised objective.
        plain = prep_corpus(tmp, "plain", wiki_lines(32))
        r = run(["train", "--run-dir", os.path.join(tmp, "bad"), "--max-steps", "1"] +
                [x if x != corpus else plain for x in common])
        check(r.returncode == 1 and "column" in r.stderr, f"supervised on 1 column refused (rc {r.returncode}): "
              + r.stderr.strip()[-200:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check.exit("supervised end-to-end")


if __name__ == "__main__":
    main()
