"""bench.step_anchors_cpu - bench/step_anchors.py's code path on the CPU, tiny config (a benchmark
that is run, never a timed assertion).

    python tests/bench/step_anchors_check.py BUILD/bin/bench_step

Runs the driver once (2 layers x 64 hidden, batch 8, seq 16, 3 timed steps after 2 warm-up) and
checks what it printed: every row in order for the batch; the measured rows with finite, positive
numbers; the median equal to the median of the samples; the model FLOPs equal to flop_count.h's
formula recomputed here; TFLOP/s = FLOPs / time; MFU = TFLOP/s / the given peak; every ratio equal
to the ratio of the rows' times (and peaks), in the JSON and as printed; the captured row "not
available" on CPU, naming why; the markdown on stdout identical to --out's. Negative controls: the same checks must
reject doctored copies of the result (a wrong ratio, an invented captured row, a NaN time, a
missing row, a wrong FLOP count), and bench_step must refuse an unknown flag.
"""
import copy
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = os.path.join(ROOT, "bench", "step_anchors.py")
ROWS = ["HF eager", "HF torch.compile", "simcsepp eager", "simcsepp captured"]
LAYERS, HIDDEN, BATCH, LEN, PEAK_TFLOPS = 2, 64, 8, 16, 0.5


def expected_flops(layers, hidden, batch, seq_len):
    """flop_count.h, written out: per sequence and layer 8 L H^2 + 4 L^2 H + 4 L H I, the MLP head
    2 H^2 per sequence; SimCSE++ = a 2N call and an N call, both with gradient (x3)."""
    inter = 4 * hidden
    per_seq = layers * (8 * seq_len * hidden**2 + 4 * seq_len**2 * hidden + 4 * seq_len * hidden * inter) + 2 * hidden**2
    return 3 * (2 * batch + batch) * per_seq


def close(a, b, rel=1e-9):
    return a is not None and b is not None and abs(a - b) <= rel * max(abs(a), abs(b))


def check(result, stdout, table_file):
    """Every failed check as a line; empty when the result is right."""
    bad = []
    rows = result["rows"]
    if [(r["impl"], r["batch"]) for r in rows] != [(n, BATCH) for n in ROWS]:
        return [f"rows {[(r['impl'], r['batch']) for r in rows]} != {[(n, BATCH) for n in ROWS]}"]
    by = {r["impl"]: r for r in rows}
    want_flops = expected_flops(LAYERS, HIDDEN, BATCH, LEN)
    for r in rows:
        name, before = r["impl"], len(bad)
        if name == "simcsepp captured":
            # On CPU the captured step cannot exist: the row says why and carries no number.
            if (not r["status"].startswith("not available: ") or "CUDA" not in r["status"] or "ms_median" in r
                    or r.get("tflops") is not None):
                bad.append(f"captured row must be 'not available: <why>' with no numbers: {r}")
            continue
        if r["status"] != "ok":
            bad.append(f"{name}: status {r['status']}")
            continue
        numbers = {k: r[k] for k in ("ms_median", "peak_mem_mib", "tflops", "mfu", "warmup_s", "model_flops_per_step")}
        numbers.update({f"sample {i}": x for i, x in enumerate(r["ms_samples"])})
        numbers.update({k: v for k, v in r.items() if k.startswith(("time_vs_", "mem_vs_"))})
        for k, v in numbers.items():
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                bad.append(f"{name}: {k} = {v!r} is not a finite number > 0")
        if len(bad) > before:
            continue
        if len(r["ms_samples"]) != 3 or not close(r["ms_median"], statistics.median(r["ms_samples"])):
            bad.append(f"{name}: median {r['ms_median']} of {r['ms_samples']}")
        if r["model_flops_per_step"] != want_flops:
            bad.append(f"{name}: model FLOPs {r['model_flops_per_step']} != formula {want_flops}")
        if not close(r["tflops"], want_flops / (r["ms_median"] / 1000) / 1e12):
            bad.append(f"{name}: TFLOP/s {r['tflops']} != FLOPs / time")
        if not close(r["mfu"], r["tflops"] / PEAK_TFLOPS):
            bad.append(f"{name}: MFU {r['mfu']} != TFLOP/s / {PEAK_TFLOPS}")
        if r["last_loss"] is None or not math.isfinite(r["last_loss"]):
            bad.append(f"{name}: last loss {r['last_loss']}")
        for anchor in ("HF eager", "HF torch.compile"):
            ref = by[anchor]
            if ref["status"] != "ok":
                continue
            if not close(r[f"time_vs_{anchor}"], r["ms_median"] / ref["ms_median"]):
                bad.append(f"{name}: time / {anchor} {r[f'time_vs_{anchor}']} != "
                           f"{r['ms_median']} / {ref['ms_median']}")
            if not close(r[f"mem_vs_{anchor}"], r["peak_mem_mib"] / ref["peak_mem_mib"]):
                bad.append(f"{name}: peak / {anchor} {r[f'mem_vs_{anchor}']} is not the peaks' ratio")
    # The printed table: one line per row, its numbers those of the JSON as formatted.
    lines = {ln.split("|")[1].strip(): [c.strip() for c in ln.strip().strip("|").split("|")]
             for ln in stdout.splitlines() if ln.startswith("| ") and not ln.startswith("| row")}
    for r in rows:
        cells = lines.get(r["impl"])
        if cells is None:
            bad.append(f"table has no line for {r['impl']}")
            continue
        if r["status"] != "ok":
            if cells[2] != r["status"]:
                bad.append(f"table line of {r['impl']} says {cells[2]!r}, not {r['status']!r}")
            continue
        try:
            printed_ms, anchor_ms, printed_ratio = float(cells[2]), float(lines["HF eager"][2]), float(cells[7])
        except (ValueError, KeyError, IndexError):
            bad.append(f"table line of {r['impl']} {cells} has no numbers where the JSON has them")
            continue
        if cells[2] != f"{r['ms_median']:.2f}" or cells[7] != f"{r['time_vs_HF eager']:.3f}" or \
                cells[8] != f"{r['time_vs_HF torch.compile']:.3f}":
            bad.append(f"table line of {r['impl']} {cells} does not print the JSON's numbers")
        # ...and the printed ratio is the ratio of the printed times, up to their rounding.
        lo, hi = (printed_ms - 0.005) / (anchor_ms + 0.005), (printed_ms + 0.005) / (anchor_ms - 0.005)
        if not lo - 5e-4 <= printed_ratio <= hi + 5e-4:
            bad.append(f"printed ratio {cells[7]} of {r['impl']} is not {printed_ms} / {anchor_ms}")
    if "default mode" not in stdout:
        bad.append("the notes do not say that torch.compile ran in its default mode on the CPU")
    if table_file != stdout:
        bad.append("--out's table differs from stdout's")
    return bad


def main():
    bench_step = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin", "bench_step")
    failures = []
    # bench_step must refuse what it does not know, not benchmark the default shape instead.
    p = subprocess.run([bench_step, "--batchs", "8", "--json"], capture_output=True, text=True)
    if p.returncode != 2 or "unknown argument '--batchs'" not in p.stderr:
        failures.append(f"bench_step --batchs: exit {p.returncode}, stderr {p.stderr.strip()!r}")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "table.md")
        cmd = [sys.executable, DRIVER, "--device", "cpu", "--layers", str(LAYERS), "--hidden", str(HIDDEN),
               "--batches", str(BATCH), "--len", str(LEN), "--steps", "3", "--warmup", "2", "--threads", "1",
               "--peak-tflops", str(PEAK_TFLOPS), "--bench-step", bench_step, "--row-timeout", "240", "--out", out]
        print("$ " + " ".join(cmd), flush=True)
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        secs = time.perf_counter() - t0
        print(p.stdout + p.stderr)
        if p.returncode != 0:
            print(open(out + ".log").read() if os.path.exists(out + ".log") else "(no log)")
            sys.exit(f"FAIL: the driver exited {p.returncode} after {secs:.1f} s")
        result = json.load(open(os.path.join(tmp, "table.json")))
        table_file = open(out).read()
    for r in result["rows"]:
        print(f"  {r['impl']}: {r['status']}, process {r['wall_s']:.1f} s"
              + (f", warm-up {r['warmup_s']:.1f} s" if "warmup_s" in r else ""))
    print(f"driver: {secs:.1f} s")
    failures += check(result, p.stdout, table_file)

    # Negative controls: each doctored copy must be caught.
    def doctored(edit):
        r = copy.deepcopy(result)
        edit(r["rows"])
        return check(r, p.stdout, table_file)

    controls = {
        "wrong ratio": lambda rows: rows[2].update({"time_vs_HF eager": rows[2]["time_vs_HF eager"] * 1.01}),
        "invented captured row": lambda rows: rows[3].update(status="ok", ms_median=1.0, tflops=1.0),
        "NaN time": lambda rows: rows[0].update(ms_median=float("nan")),
        "missing row": lambda rows: rows.pop(1),
        "wrong FLOP count": lambda rows: rows[2].update(model_flops_per_step=rows[2]["model_flops_per_step"] * 2),
    }
    for name, edit in controls.items():
        caught = doctored(edit)
        print(f"  negative control '{name}': {'caught: ' + caught[0] if caught else 'NOT CAUGHT'}")
        if not caught:
            failures.append(f"negative control '{name}' passed the checks")
    if check(result, p.stdout, p.stdout.replace("default mode", "some mode")) == []:
        failures.append("negative control 'table differs' passed the checks")
    for f in failures:
        print("FAIL: " + f)
    print("bench.step_anchors_cpu: " + ("FAIL" if failures else "ok"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
