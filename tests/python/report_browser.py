"""report.html of a real 2-rank training run, checked in a real headless browser (chromium):
1. `mpirun -np 2 simcsepp train` writes RUN/report.html at its end, and metrics.jsonl carries a
   "ranks" line (both ranks' step time and sentences/s) at every --log-every-th step and the last;
   rank 0's entries are exactly the step time of its step line;
2. chromium loads the page with no console message and no other file or network load, and its
   screenshot is not blank (grey-level variance, share of non-white pixels);
3. every point drawn - loss and its parts, learning rate, gradient norm, the step-time split,
   throughput, STS-B dev (with the best step marked), alignment/uniformity, effective rank, both
   ranks' step time and throughput, skipped updates - carries data-x/data-y equal to the values of
   metrics.jsonl; the charts of fields a CPU run lacks (MFU, GPU memory) are listed as absent;
4. negative controls: the same page with one value perturbed in its last digit, or one point
   removed, fails the comparison; a page with a console.error, or one loading an image, fails the
   console/load check, and so does one asking for a web font; a blank page fails the screenshot check; a planted NaN loss is drawn as a
   non-finite mark, not a point;
5. `simcsepp report RUN` rewrites the same bytes; a directory without metrics.jsonl is refused
   (exit 1, HINT) and nothing is written."""
import os
import re
import shlex
import shutil
import tempfile

from report_page_check import (CHROMIUM, compare_series, expected_points, last_per_step, load, read_metrics,
                               screenshot_variance)
from tiny_train_fixture import Checks, failed_tail, make_model, prep_corpus, run, sts_dev, wiki_lines

check = Checks()
MPIRUN = shlex.split(os.environ.get("SIMCSEPP_MPIRUN", "mpirun --allow-run-as-root --oversubscribe"))

STEP_CHARTS = {
    "chart-loss": ["loss", "instance_loss", "dcl_loss"],
    "chart-lr": ["lr"],
    "chart-grad-norm": ["grad_norm"],
    "chart-step-time": ["step_s", "data_wait_s", "forward_s", "backward_s", "communication_s", "optimizer_s"],
    "chart-throughput": ["sentences_per_s"],
}


def page_mismatches(dom, records):
    """Every mismatch between the drawn points and metrics.jsonl (empty: the page is right)."""
    steps = last_per_step([r for r in records if r["kind"] == "step"])
    initial = [r for r in records if r["kind"] == "eval" and r.get("initial")]
    evals = initial[-1:] + last_per_step([r for r in records if r["kind"] == "eval" and not r.get("initial")])
    bad = []
    for chart, fields in STEP_CHARTS.items():
        for f in fields:
            bad += compare_series(dom, chart, f, *expected_points(steps, f))
    bad += compare_series(dom, "chart-dev", "sts_dev_spearman_x100", *expected_points(evals, "sts_dev_spearman_x100"))
    for f in ("alignment", "uniformity"):
        bad += compare_series(dom, "chart-align-uniform", f, *expected_points(evals, f))
    rank_effective = [r for r in steps if r.get("effective_rank") is not None]
    bad += compare_series(dom, "chart-effective-rank", "effective_rank", *expected_points(rank_effective, "effective_rank"))
    ranks = last_per_step([r for r in records if r["kind"] == "ranks"])
    for chart, field in (("chart-rank-step-time", "step_s"), ("chart-rank-throughput", "sentences_per_s")):
        for rank in range(len(ranks[0][field]) if ranks else 0):
            bad += compare_series(dom, chart, f"rank {rank}", [(float(r["step"]), float(r[field][rank])) for r in ranks])
    skipped, total = [], 0
    for r in steps:
        total += 1 if r["skipped"] else 0
        skipped.append((float(r["step"]), float(total)))
    bad += compare_series(dom, "chart-skipped", "skipped_total", skipped)
    return bad


def main():
    assert CHROMIUM, "chromium not found: run scripts/setup.sh"
    tmp = tempfile.mkdtemp(prefix="simcsepp_report_browser_")
    try:
        model = make_model(os.path.join(tmp, "model"))
        corpus = prep_corpus(tmp, "corpus", wiki_lines(160))
        dev = sts_dev(tmp)
        rd = os.path.join(tmp, "run")
        args = ["train", "--run-dir", rd, "--model", model, "--corpus", corpus, "--sts-dev", dev, "--batch-size", "4",
                "--device", "cpu", "--comm", "mpi", "--metrics-port", "0", "--lr", "1e-4", "--max-steps", "7",
                "--eval-every", "3", "--log-every", "2", "--diagnostics-every", "2"]
        r = run(args, prefix=MPIRUN + ["-np", "2"])
        check(r.returncode == 0, "2-rank tiny run exits 0" + failed_tail(r))
        page = os.path.join(rd, "report.html")
        check(os.path.isfile(page), "train wrote RUN/report.html")
        check("report: " + page in r.stderr, "and logged where")
        records = read_metrics(rd)

        # 1. per-rank lines
        ranks = [x for x in records if x["kind"] == "ranks"]
        steps = {x["step"]: x for x in records if x["kind"] == "step"}
        check([x["step"] for x in ranks] == [2, 4, 6, 7], f"ranks lines at steps 2, 4, 6 and the last: "
              f"{[x['step'] for x in ranks]}")
        check(all(len(x["step_s"]) == 2 and len(x["sentences_per_s"]) == 2 and
                  all(v > 0 for v in x["step_s"] + x["sentences_per_s"]) for x in ranks),
              "each carries both ranks' positive step time and sentences/s")
        check(all(x["step_s"][0] == steps[x["step"]]["step_s"] for x in ranks),
              "rank 0's entry is exactly the step time of its step line")
        # A rank's sentences in a step: its batch of 4 (one column) over its own step time.
        check(all(abs(x["sentences_per_s"][k] * x["step_s"][k] - 4) < 1e-9 for x in ranks for k in (0, 1)),
              "each rank's sentences/s is its 4 sentences over its step time")

        # 2. the browser
        dom, shot, problems = load(page, tmp)
        check(not problems, f"chromium: no console message, no other load, a render ({problems[:3]})")
        var, inked = screenshot_variance(shot)
        check(var > 100 and inked > 0.01, f"the screenshot is not blank (grey variance {var:.0f}, {inked:.1%} inked)")
        shutil.copy(shot, os.path.join(os.environ.get("SIMCSEPP_REPORT_SHOT_DIR", tmp), "report_browser.png"))

        # 3. every drawn point equals metrics.jsonl
        bad = page_mismatches(dom, records)
        check(not bad, "every drawn point equals its metrics.jsonl value: " + "; ".join(bad[:4]))
        n = sum(len(v) for c in dom.points.values() for v in c.values())
        check(n > 100, f"{n} points compared")
        for c in ("chart-loss", "chart-dev", "chart-rank-step-time", "chart-rank-throughput", "chart-effective-rank"):
            check(c in dom.charts and dom.points[c], f"{c} drawn")
        check(set(dom.points["chart-rank-step-time"]) == {"rank 0", "rank 1"}, "both ranks drawn")
        summary = [x for x in records if x["kind"] == "summary"][-1]
        check(dom.markers["chart-dev"] == [("marker best", float(summary["best_step"]),
                                            float(summary["best_sts_dev_spearman_x100"]))],
              f"the best step is marked on the dev chart: {dom.markers['chart-dev']}")
        absent = {f for _, f in dom.absent}
        check(absent == {"mfu", "gpu_memory_used_bytes", "rtd_loss", "rtd_accuracy"} and "chart-mfu" not in dom.charts
              and "chart-gpu-memory" not in dom.charts and "chart-rtd" not in dom.charts,
              "exactly MFU and GPU memory (none on a CPU) and the RTD fields (not a DiffCSE run) are listed as "
              f"absent, not drawn: {sorted(absent)}")
        text = " ".join(dom.text)
        check("summary" in text.lower() and "Configuration" in text, "summary and configuration sections")

        # 4. negative controls
        html_text = open(page).read()
        first = re.search(r'data-series="loss" data-x="1" data-y="([^"]+)"', html_text)
        bumped = first.group(1)[:-1] + str((int(first.group(1)[-1]) + 1) % 10)
        perturbed = os.path.join(tmp, "perturbed.html")
        open(perturbed, "w").write(html_text.replace(first.group(0), first.group(0).replace(first.group(1), bumped), 1))
        pdom, _, _ = load(perturbed, tmp)
        pbad = page_mismatches(pdom, records)
        check(len(pbad) == 1 and "chart-loss/loss" in pbad[0], f"a value changed in its last digit fails: {pbad[:2]}")
        dropped = os.path.join(tmp, "dropped.html")
        open(dropped, "w").write(re.sub(r'<circle class="pt" data-series="rank 1"[^>]*>', "", html_text, count=1))
        ddom, _, _ = load(dropped, tmp)
        check(any("rank 1" in b for b in page_mismatches(ddom, records)), "a point left out fails")
        noisy = os.path.join(tmp, "noisy.html")
        open(noisy, "w").write(html_text.replace("</body>", "<script>console.error('planted')</script></body>"))
        _, _, nproblems = load(noisy, tmp)
        check(any("planted" in p for p in nproblems), f"a console.error is caught: {nproblems[:2]}")
        loading = os.path.join(tmp, "loading.html")
        open(loading, "w").write(html_text.replace("</body>", '<img src="elsewhere.png"></body>'))
        _, _, lproblems = load(loading, tmp)
        check(any("elsewhere.png" in p for p in lproblems), f"a page loading another file is caught: {lproblems[:2]}")
        fonts = os.path.join(tmp, "fonts.html")
        open(fonts, "w").write(html_text.replace(
            "</head>", '<link rel="stylesheet" href="https://fonts.googleapis.com/css2?family=Roboto"></head>'))
        _, _, fproblems = load(fonts, tmp)
        check(any("fonts.googleapis.com" in p for p in fproblems), f"a page loading a web font is caught: {fproblems[:2]}")
        blank = os.path.join(tmp, "blank.html")
        open(blank, "w").write("<!DOCTYPE html><html><body></body></html>")
        _, bshot, _ = load(blank, tmp)
        bvar, binked = screenshot_variance(bshot)
        check(not (bvar > 100 and binked > 0.01), f"a blank page fails the screenshot check ({bvar:.1f}, {binked:.2%})")
        # A NaN loss (written as null) in a copy of the run: a mark, never a point or a NaN coordinate.
        nan_run = os.path.join(tmp, "nan_run")
        os.makedirs(nan_run)
        with open(os.path.join(rd, "metrics.jsonl")) as f, open(os.path.join(nan_run, "metrics.jsonl"), "w") as out:
            for line in f:
                out.write(line.replace('"loss":', '"loss":null,"was":', 1) if '"step":3,' in line and
                          '"kind":"step"' in line else line)
        r = run(["report", nan_run])
        ndom, _, nan_problems = load(os.path.join(nan_run, "report.html"), tmp)
        nan_records = read_metrics(nan_run)
        check(r.returncode == 0 and not nan_problems and not page_mismatches(ndom, nan_records) and
              ndom.nonfinite["chart-loss"].get("loss") == [3.0] and
              all(x != 3.0 for x, _ in ndom.points["chart-loss"]["loss"]),
              f"a NaN loss is a non-finite mark at its step, not a point ({nan_problems[:2]})" + failed_tail(r))
        check(not re.search(r'(cx|cy|points)="[^"]*nan', open(os.path.join(nan_run, "report.html")).read()),
              "no NaN coordinate in the SVG")

        # 5. simcsepp report rewrites the same bytes
        before = open(page, "rb").read()
        os.remove(page)
        r = run(["report", rd])
        check(r.returncode == 0 and os.path.isfile(page) and open(page, "rb").read() == before,
              "`simcsepp report RUN` rewrites the same report.html, byte for byte" + failed_tail(r))
        other = os.path.join(tmp, "elsewhere.html")
        r = run(["report", rd + "/", "--out", other])
        check(r.returncode == 0 and open(other, "rb").read() == before, "--out writes it elsewhere, the same page")
        empty = os.path.join(tmp, "not_a_run")
        os.makedirs(empty)
        r = run(["report", empty])
        check(r.returncode == 1 and "metrics.jsonl" in r.stderr and "HINT" in r.stderr and empty in r.stderr
              and not os.path.exists(os.path.join(empty, "report.html")),
              f"a directory without metrics.jsonl is refused with a HINT (rc {r.returncode}): {r.stderr.strip()[-200:]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check.exit("report browser")


if __name__ == "__main__":
    main()
