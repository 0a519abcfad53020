"""Shared checks of simcsepp's report.html pages in a real headless browser (Debian's chromium,
installed by scripts/setup.sh): load a page with `chromium --headless --dump-dom` (the DOM after
parsing and layout) and `--screenshot`, collect the console messages and the files the page made
the browser load, read back every plotted point (<circle class="pt" data-series data-x data-y>,
<path class="nonfinite">) per chart, and compare them with the values of metrics.jsonl.
Test-only."""
import html.parser
import json
import math
import os
import re
import shutil
import subprocess
import tempfile

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_OWN = re.compile(r"^https?://(clients2\.google\.com/time/1/current|accounts\.google\.com/ListAccounts|"
                         r"update\.googleapis\.com/service/update2/|redirector\.gvt1\.com/edgedl/chrome/dict/)")


class Dom(html.parser.HTMLParser):
    """Points, markers and data-value cells of a dumped DOM, by chart id / table row."""

    def __init__(self):
        super().__init__()
        self.points = {}       # chart id -> series key -> [(x, y)]
        self.nonfinite = {}    # chart id -> series key -> [x]
        self.markers = {}      # chart id -> [(class, x, y)]
        self.charts = []       # chart ids in page order
        self.svg = None
        self.rows = {}         # data-group / data-run row -> [cell data-value strings]
        self.row = None
        self.absent = []       # data-field of the "not in metrics" list
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and "chart" in a.get("class", "").split():
            self.svg = a["id"]
            self.charts.append(self.svg)
            self.points.setdefault(self.svg, {})
            self.nonfinite.setdefault(self.svg, {})
            self.markers.setdefault(self.svg, [])
        elif tag == "circle" and a.get("class") == "pt" and self.svg:
            self.points[self.svg].setdefault(a["data-series"], []).append((float(a["data-x"]), float(a["data-y"])))
        elif tag == "path" and a.get("class") == "nonfinite" and self.svg:
            self.nonfinite[self.svg].setdefault(a["data-series"], []).append(float(a["data-x"]))
        elif tag == "g" and a.get("class", "").startswith("marker") and self.svg:
            self.markers[self.svg].append((a["class"], float(a["data-x"]), float(a["data-y"])))
        elif tag == "tr" and ("data-group" in a or "data-run" in a):
            self.row = ("group", a["data-group"]) if "data-group" in a else ("run", a["data-run"])
            self.rows[self.row] = []
        elif tag == "td" and self.row is not None and "data-value" in a:
            self.rows[self.row].append(a["data-value"])
        elif tag == "li" and "data-field" in a:
            self.absent.append((a.get("data-chart"), a["data-field"]))

    def handle_endtag(self, tag):
        if tag == "svg":
            self.svg = None
        elif tag == "tr":
            self.row = None

    def handle_data(self, data):
        self.text.append(data)


def load(page, out_dir, width=1600, height=4000):
    """Loads `page` in headless chromium: (Dom of the dumped DOM, screenshot path, problems) where
    problems lists console messages, failed or foreign loads and a failed render."""
    assert CHROMIUM, "chromium not found: run scripts/setup.sh (it installs Debian's chromium)"
    url = "file://" + os.path.abspath(page)
    profile = tempfile.mkdtemp(prefix="simcsepp_chromium_")
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=1",
            f"--window-size={width},{height}", "--hide-scrollbars"]
    problems = []
    try:
        dump = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
        shot = os.path.join(out_dir, os.path.basename(page) + ".png")
        snap = subprocess.run(base + ["--screenshot=" + shot, url], capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    for r, what in ((dump, "dump-dom"), (snap, "screenshot")):
        if r.returncode != 0:
            problems.append(f"chromium {what} exited {r.returncode}: {r.stderr[-300:]}")
        for line in r.stderr.splitlines():
            # Console messages (console.error, uncaught exceptions, CSP and resource errors).
            if ":CONSOLE" in line or "Uncaught" in line:
                problems.append("console: " + line.strip()[:300])
            # Every file the page made the browser load other than itself, and any network error.
            m = re.search(r"FileURLLoader::Start: (\S+)", line)
            if m and m.group(1) != url:
                problems.append("loaded another file: " + m.group(1))
            # Every network request, except the browser's own service calls (component updates,
            # network time, account list, spell-check dictionaries), which a headless chromium
            # makes whatever the page is and --disable-background-networking does not stop.
            m = re.search(r"NotifyBeforeURLRequest: (\S+)", line)
            if m and not BROWSER_OWN.match(m.group(1)):
                problems.append("network request: " + m.group(1)[:200])
    if not dump.stdout.strip().startswith("<!DOCTYPE html>") and "<html" not in dump.stdout[:200]:
        problems.append("no DOM dumped")
    if not os.path.isfile(shot):
        problems.append("no screenshot written")
    dom = Dom()
    dom.feed(dump.stdout)
    return dom, shot, problems


def screenshot_variance(png):
    """(variance of the grey levels, fraction of pixels that are not near-white) of a screenshot."""
    import numpy as np
    from PIL import Image  # Pillow: a dependency of the pinned sentence-transformers
    grey = np.asarray(Image.open(png).convert("L"), dtype=np.float64)
    return float(grey.var()), float((grey < 200).mean())


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def expected_points(records, field):
    """(finite [(step, value)], non-finite [step]) of `field` in records, as the report reads them:
    null is a non-finite value (NaN/inf are written as null)."""
    finite, nonfinite = [], []
    for r in records:
        if field not in r:
            continue
        v = r[field]
        if v is None or (is_number(v) and not math.isfinite(v)):
            nonfinite.append(float(r["step"]))
        elif is_number(v):
            finite.append((float(r["step"]), float(v)))
    return finite, nonfinite


def compare_series(dom, chart, key, finite, nonfinite=()):
    """Mismatches between the points drawn for `key` in `chart` and the expected values: every
    value must be drawn exactly (same step, same double), nothing else drawn."""
    got = dom.points.get(chart, {}).get(key, [])
    got_nf = dom.nonfinite.get(chart, {}).get(key, [])
    bad = []
    if got != list(finite):
        extra = [p for p in got if p not in finite][:3]
        missing = [p for p in finite if p not in got][:3]
        bad.append(f"{chart}/{key}: {len(got)} points drawn, {len(finite)} expected; "
                   f"drawn not expected {extra}, expected not drawn {missing}")
    if sorted(got_nf) != sorted(nonfinite):
        bad.append(f"{chart}/{key}: non-finite marks at {got_nf}, expected at {list(nonfinite)}")
    return bad


def last_per_step(records):
    """A resumed run re-logs steps: the report keeps the last line of each step, ordered by step."""
    by = {}
    for r in records:
        by[r["step"]] = r
    return [by[s] for s in sorted(by)]


def read_metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]
