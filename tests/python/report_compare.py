"""`simcsepp report RUN_A RUN_B RUN_C --out FILE`: one comparison page of three tiny runs, two that
differ only in their seed (simcse++, seeds 1 and 2) and one with another objective (simcse):
1. the page loads in headless chromium with no console message or other load;
2. the runs table has each run's objective, seed, best and final STS-B dev (summary.json and the
   last eval line); the seed groups are {A, B} and {C}, and group 1's mean and standard deviation
   of the best and final dev scores equal numpy's (np.mean, np.std(ddof=1)) over the two seeds;
3. the overlaid dev and loss curves carry every run's values exactly;
4. a run directory without metrics.jsonl among them is refused (exit 1, HINT, naming it) and no
   page is written; a second run with another learning rate forms a group of its own."""
import json
import os
import shutil
import tempfile

import numpy as np

from report_page_check import CHROMIUM, compare_series, expected_points, last_per_step, load, read_metrics
from tiny_train_fixture import Checks, failed_tail, make_model, prep_corpus, run, sts_dev, wiki_lines

check = Checks()


def value(v):
    return float(v)  # "nan" parses too


def main():
    assert CHROMIUM, "chromium not found: run scripts/setup.sh"
    tmp = tempfile.mkdtemp(prefix="simcsepp_report_compare_")
    try:
        model = make_model(os.path.join(tmp, "model"))
        corpus = prep_corpus(tmp, "corpus", wiki_lines(160))
        dev = sts_dev(tmp)
        base = ["--model", model, "--corpus", corpus, "--sts-dev", dev, "--batch-size", "8", "--device", "cpu",
                "--comm", "single", "--metrics-port", "0", "--max-steps", "6", "--eval-every", "2"]
        runs = {"a": ("simcse++", 1, "1e-4"), "b": ("simcse++", 2, "1e-4"), "c": ("simcse", 1, "1e-4"),
                "d": ("simcse++", 3, "2e-4")}
        dirs = {}
        for name, (objective, seed, lr) in runs.items():
            dirs[name] = os.path.join(tmp, name)
            r = run(["train", "--run-dir", dirs[name], "--objective", objective, "--seed", str(seed), "--lr", lr] + base)
            check(r.returncode == 0, f"run {name} ({objective}, seed {seed}) exits 0" + failed_tail(r))

        def facts(d):
            summary = json.load(open(os.path.join(d, "summary.json")))
            evals = last_per_step([x for x in read_metrics(d) if x["kind"] == "eval" and not x.get("initial")])
            return summary["best_sts_dev_spearman_x100"], evals[-1]["sts_dev_spearman_x100"]

        out = os.path.join(tmp, "compare.html")
        r = run(["report", dirs["a"], dirs["b"], dirs["c"], "--out", out])
        check(r.returncode == 0 and os.path.isfile(out), "report of three runs writes --out" + failed_tail(r))
        dom, _, problems = load(out, tmp)
        check(not problems, f"the page loads in chromium with no console message or other load ({problems[:3]})")

        # 2. runs table: [seed, steps, best, best step, final, final step, group]
        for name, (objective, seed, _) in list(runs.items())[:3]:
            cells = dom.rows.get(("run", name))
            best, final = facts(dirs[name])
            check(cells is not None and value(cells[0]) == seed and value(cells[2]) == best and
                  value(cells[4]) == final, f"run {name}: seed {seed}, best {best}, final {final} ({cells})")
        ga, gc = dom.rows.get(("run", "a"))[-1], dom.rows.get(("run", "c"))[-1]
        check(dom.rows[("run", "b")][-1] == ga and gc != ga, "a and b share a group, c is in another")
        # seed groups: [n, best mean, best std, final mean, final std]
        bests = np.array([facts(dirs[n])[0] for n in "ab"])
        finals = np.array([facts(dirs[n])[1] for n in "ab"])
        g1 = [value(v) for v in dom.rows[("group", "1")]]
        want = [2, np.mean(bests), np.std(bests, ddof=1), np.mean(finals), np.std(finals, ddof=1)]
        check(np.allclose(g1, want, rtol=1e-12, atol=0), f"group 1 (seeds 1, 2): n, mean, std = numpy's: {g1} vs {want}")
        check(bests[0] != bests[1], f"the two seeds gave different scores ({bests}), so the std is a real check")
        g2 = [value(v) for v in dom.rows[("group", "2")]]
        check(g2[0] == 1 and g2[1] == facts(dirs["c"])[0] and np.isnan(g2[2]),
              f"group 2 (simcse, one seed): mean = its score, no std: {g2}")
        check(("group", "3") not in dom.rows, "two groups in all")
        objectives = [t.strip() for t in dom.text if t.strip() in ("simcse", "simcse++")]
        check("simcse" in objectives and "simcse++" in objectives, "objectives shown")

        # 3. overlaid curves
        bad = []
        for name in "abc":
            recs = read_metrics(dirs[name])
            steps = last_per_step([x for x in recs if x["kind"] == "step"])
            initial = [x for x in recs if x["kind"] == "eval" and x.get("initial")]
            evals = initial[-1:] + last_per_step([x for x in recs if x["kind"] == "eval" and not x.get("initial")])
            bad += compare_series(dom, "chart-compare-dev", name, *expected_points(evals, "sts_dev_spearman_x100"))
            bad += compare_series(dom, "chart-compare-loss", name, *expected_points(steps, "loss"))
        check(not bad, "the overlaid dev and loss curves carry every run's values: " + "; ".join(bad[:3]))
        # negative control of the statistics check: numpy's std with the other divisor differs
        check(not np.isclose(g1[2], np.std(bests, ddof=0), rtol=1e-12), "the std check tells n-1 from n")

        # 4. refusal, and another learning rate is another group
        empty = os.path.join(tmp, "empty")
        os.makedirs(empty)
        out2 = os.path.join(tmp, "refused.html")
        r = run(["report", dirs["a"], empty, "--out", out2])
        check(r.returncode == 1 and "metrics.jsonl" in r.stderr and "HINT" in r.stderr and empty in r.stderr and
              not os.path.exists(out2), f"a directory without metrics.jsonl is refused (rc {r.returncode})")
        out3 = os.path.join(tmp, "four.html")
        r = run(["report", dirs["a"], dirs["b"], dirs["c"], dirs["d"], "--out", out3])
        dom4, _, _ = load(out3, tmp)
        check(r.returncode == 0 and ("group", "3") in dom4.rows and dom4.rows[("run", "d")][-1] == "3" and
              value(dom4.rows[("group", "1")][0]) == 2, "the run with another learning rate is a group of its own")
        cwd_out = os.path.join(tmp, "cwd")
        os.makedirs(cwd_out)
        import subprocess
        from tiny_train_fixture import BIN
        r = subprocess.run([os.path.abspath(BIN), "report", dirs["a"], dirs["c"]], cwd=cwd_out, capture_output=True,
                           text=True)
        check(r.returncode == 0 and os.path.isfile(os.path.join(cwd_out, "report.html")),
              "several runs without --out: ./report.html" + failed_tail(r))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check.exit("report compare")


if __name__ == "__main__":
    main()
