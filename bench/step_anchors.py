"""step_anchors.py - simcsepp's SimCSE++ step next to its Python anchors, in one run, as one table.

Rows, in this order, at each batch size (issue 14 point 1):
  1. HF eager            bench/step_reference.py: transformers BertModel + MLP head, same step, eager
  2. HF torch.compile    the same with torch.compile(BertModel, mode="reduce-overhead") on CUDA
                         (CUDA graphs); mode "default" on CPU, where reduce-overhead does not apply
  3. simcsepp eager      bench_step --json (trainer::TrainStep)
  4. simcsepp captured   bench_step --cuda-graphs (CUDA only: on CPU the row reads "not available: <why>")
Each row runs in its own process (a fresh CUDA context, a clean peak-memory counter, a per-row
timeout so a slow compile cannot take the table with it), one after the other, never two at once.

    python bench/step_anchors.py --device cuda                      # BERT-base, batch 64 and 512, seq 32
    python bench/step_anchors.py --device cpu --layers 2 --hidden 64 --batches 8 --len 16 --steps 3 --warmup 2

Per row: median ms/step of --steps timed steps after --warmup steps (each step ends with
loss.item(), a device sync); peak memory (CUDA: max allocated of the caching allocator over the
row's whole run, warm-up included; CPU: the row process's peak RSS, runtime libraries included);
model TFLOP/s = bench_step's model FLOPs per step (model::training_step_flops: matmuls only, the
same count for every row) / median time; MFU = that / the device's dense peak (--peak-tflops, else
the known GPU table of model/flop_count.h via bench_step, else n/a); time and peak-memory ratios to
each anchor at the same batch. Stdout: the markdown table; --out FILE: the table in FILE and every
row (all samples) in FILE's .json sibling.
"""
import argparse
import datetime
import json
import math
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = ("HF eager", "HF torch.compile", "simcsepp eager", "simcsepp captured")
ANCHORS = ("HF eager", "HF torch.compile")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batches", default="64,512", help="comma-separated batch sizes (sentences per step)")
    p.add_argument("--len", type=int, default=32, help="sequence length (all tokens real)")
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--hidden", type=int, default=768, help="heads = hidden / 64, FFN = 4 x hidden")
    p.add_argument("--steps", type=int, default=20, help="timed steps per row (median reported)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation happens here)")
    p.add_argument("--bench-step", default=os.path.join(os.path.dirname(HERE), "build", "bin", "bench_step"))
    p.add_argument("--threads", type=int, default=0, help="intra-op threads for every row (0: library default)")
    p.add_argument("--peak-tflops", type=float, default=0.0, help="device peak for MFU (default: known GPUs)")
    p.add_argument("--row-timeout", type=float, default=600.0, help="seconds per row before it is recorded as timed out")
    p.add_argument("--budget-s", type=float, default=0.0,
                   help="whole run: no row starts past this, a row's timeout is cut to what is left (0: none)")
    p.add_argument("--out", default=None, help="write the table here and all rows to its .json sibling")
    p.add_argument("--_row", default=None, help=argparse.SUPPRESS)  # internal: run one Python row
    p.add_argument("--_batch", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.batch_list = [int(b) for b in a.batches.split(",") if b.strip()]
    if not a.batch_list or min(a.batch_list) < 2:
        p.error("--batches needs sizes >= 2")
    if a.steps < 1 or a.warmup < 0:
        p.error("--steps >= 1 and --warmup >= 0")
    return a


def compile_mode(device):
    return "reduce-overhead" if device.startswith("cuda") else "default"


# --- one Python row, in its own process ---------------------------------------------------------
def python_row(a):
    import torch

    sys.path.insert(0, HERE)
    from step_reference import build_step, time_step

    if a.threads:
        torch.set_num_threads(a.threads)
    cuda = a.device.startswith("cuda")
    mode = None if a._row == "eager" else compile_mode(a.device)
    t0 = time.perf_counter()
    step = build_step(a._batch, a.len, a.layers, a.hidden, a.device, mode)
    build_s = time.perf_counter() - t0
    if cuda:
        torch.cuda.synchronize()
    ms, warmup_s, loss = time_step(step, a.steps, a.warmup)
    row = {"impl": "HF eager" if mode is None else "HF torch.compile", "compile_mode": mode, "device": a.device,
           "gpu_name": torch.cuda.get_device_name() if cuda else "", "batch": a._batch, "len": a.len,
           "layers": a.layers, "hidden": a.hidden, "threads": torch.get_num_threads(), "steps": a.steps,
           "warmup": a.warmup, "ms_samples": ms, "ms_median": statistics.median(ms), "ms_mean": statistics.fmean(ms),
           "warmup_s": build_s + warmup_s, "last_loss": loss if math.isfinite(loss) else None,
           "torch": torch.__version__}
    if cuda:
        row.update(peak_mem_mib=torch.cuda.max_memory_allocated() / 2**20, peak_mem_kind="cuda_max_allocated",
                   peak_reserved_mib=torch.cuda.max_memory_reserved() / 2**20)
    else:
        row.update(peak_mem_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, peak_mem_kind="cpu_peak_rss",
                   peak_reserved_mib=None)
    print("ROW " + json.dumps(row), flush=True)


# --- the driver ---------------------------------------------------------------------------------
def run_child(cmd, timeout, log):
    """Runs one row's process; returns (parsed JSON row or None, status text, seconds)."""
    t0 = time.perf_counter()
    # Own process group: a timed-out torch.compile row takes its compile workers with it.
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        log.write(f"$ {' '.join(cmd)}\n(timeout after {timeout:.0f} s)\n{out}{err}\n")
        return None, f"timed out after {timeout:.0f} s", time.perf_counter() - t0
    secs = time.perf_counter() - t0
    log.write(f"$ {' '.join(cmd)}\n(exit {p.returncode}, {secs:.1f} s)\n{out}{err}\n")
    log.flush()
    if p.returncode != 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        return None, f"exit {p.returncode}: {last[:160]}", secs
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("ROW "):
            line = line[4:]
        if line.startswith("{"):
            return json.loads(line), "ok", secs
    return None, "no JSON row in its output", secs


def shape_args(a, batch):
    return ["--batch", str(batch), "--len", str(a.len), "--layers", str(a.layers), "--hidden", str(a.hidden),
            "--steps", str(a.steps), "--warmup", str(a.warmup), "--device", a.device] + (
        ["--threads", str(a.threads)] if a.threads else [])


def measure(a, log, t_start, progress):
    if not os.access(a.bench_step, os.X_OK):
        sys.exit(f"step_anchors: {a.bench_step} is not an executable bench_step: build it "
                 f"(scripts/build.sh) or pass --bench-step PATH")
    base = [a.bench_step, "--len", str(a.len), "--layers", str(a.layers), "--hidden", str(a.hidden),
            "--device", a.device]
    flops, peak, gpu = {}, 0.0, ""
    for b in a.batch_list:
        info, status, _ = run_child(base + ["--batch", str(b), "--json", "--flops-only"], 120, log)
        if info is None:
            sys.exit(f"step_anchors: bench_step --flops-only failed ({status}); see the log above")
        flops[b], peak, gpu = info["model_flops_per_step"], info["peak_flops"] or 0.0, info["gpu_name"]
    me = [sys.executable, os.path.abspath(__file__)]
    rows = []
    for b in a.batch_list:
        plan = [("HF eager", me + shape_args(a, b)[2:] + ["--_row", "eager", "--_batch", str(b)]),
                ("HF torch.compile", me + shape_args(a, b)[2:] + ["--_row", "compile", "--_batch", str(b)]),
                ("simcsepp eager", [a.bench_step] + shape_args(a, b) + ["--json"]),
                ("simcsepp captured", [a.bench_step] + shape_args(a, b) + ["--json", "--cuda-graphs"])]
        for name, cmd in plan:
            left = a.budget_s - (time.perf_counter() - t_start) if a.budget_s > 0 else a.row_timeout
            if left < 5:
                rows.append({"impl": name, "batch": b, "status": f"not run: out of the {a.budget_s:.0f} s budget",
                             "wall_s": 0.0, "model_flops_per_step": flops[b]})
                continue
            print(f"step_anchors: batch {b}: {name} ...", file=sys.stderr, flush=True)
            row, status, secs = run_child(cmd, min(a.row_timeout, left), log)
            if name == "simcsepp captured" and row is None and status.startswith("exit 3"):
                # bench_step's last stderr line names why (e.g. the step runs on CPU).
                status = "not available: " + status.split(": ", 1)[-1].replace("bench_step: --cuda-graphs: not available: ", "")
            if row is None:
                row = {"impl": name, "batch": b}
            row.update(impl=name, status=status, wall_s=secs, model_flops_per_step=flops[b])
            rows.append(row)
            progress(rows, peak, gpu)
    return rows, peak, gpu


def derive(rows, peak_flops):
    """Adds TFLOP/s, MFU and the ratios to each anchor at the same batch (None where not measured)."""
    by = {(r["impl"], r["batch"]): r for r in rows}
    for r in rows:
        ok = r["status"] == "ok"
        r["tflops"] = r["model_flops_per_step"] / (r["ms_median"] / 1000) / 1e12 if ok else None
        r["mfu"] = r["tflops"] * 1e12 / peak_flops if ok and peak_flops > 0 else None
        for anchor in ANCHORS:
            ref = by.get((anchor, r["batch"]))
            good = ok and ref is not None and ref["status"] == "ok"
            r[f"time_vs_{anchor}"] = r["ms_median"] / ref["ms_median"] if good else None
            r[f"mem_vs_{anchor}"] = r["peak_mem_mib"] / ref["peak_mem_mib"] if good else None
    return rows


def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def table(a, rows, peak_flops, gpu, started):
    cpu = a.device == "cpu"
    where = gpu or ("CPU: " + cpu_model())
    lines = [f"Step time, {where}; {started:%Y-%m-%d %H:%M} UTC; BERT {a.layers} x {a.hidden} (heads {a.hidden // 64}, "
             f"FFN {4 * a.hidden}), random weights, seq {a.len}, SimCSE++ (2N dropout-on + N dropout-off, "
             f"off-dropout + 0.1 DCL, fused AdamW), {'fp32' if cpu else 'bf16 autocast'}; median of {a.steps} steps "
             f"after {a.warmup} warm-up; threads {a.threads or 'default'}.", "",
             "| row | batch | ms/step (median) | min-max ms | peak memory MiB | model TFLOP/s | MFU | "
             "time / HF eager | time / HF compile | peak / HF eager | warm-up s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['impl']} | {r['batch']} | {r['status']} | | | | | | | | |")
            continue
        lines.append(
            f"| {r['impl']} | {r['batch']} | {r['ms_median']:.2f} | {min(r['ms_samples']):.2f}-{max(r['ms_samples']):.2f} | "
            f"{r['peak_mem_mib']:.0f} | {r['tflops']:.4g} | {'n/a' if r['mfu'] is None else format(100 * r['mfu'], '.2f') + '%'} | "
            f"{fmt(r['time_vs_HF eager'], '.3f')} | {fmt(r['time_vs_HF torch.compile'], '.3f')} | "
            f"{fmt(r['mem_vs_HF eager'], '.3f')} | {r['warmup_s']:.1f} |")
    mode = compile_mode(a.device)
    notes = [f"model FLOPs per step (matmuls only, model::training_step_flops, the same for every row): "
             + ", ".join(f"batch {b}: {f:.4g}" for b, f in {r["batch"]: r["model_flops_per_step"] for r in rows}.items()),
             f"HF torch.compile: torch.compile(BertModel, mode=\"{mode}\", dynamic=False); MLP head, loss and AdamW eager"
             + ("; on CPU reduce-overhead (CUDA graphs) does not apply, so this is the default mode" if cpu else ""),
             "peak memory: " + ("peak RSS of each row's own process (Python rows include the interpreter, torch and "
                                "transformers; simcsepp's includes libtorch): a smoke number, not the model's footprint"
                                if cpu else "torch.cuda.max_memory_allocated / the CUDACachingAllocator's peak "
                                            "allocated bytes, each row in a fresh process, warm-up included"),
             "MFU: " + (f"against {peak_flops / 1e12:.1f} TFLOP/s" if peak_flops > 0 else "n/a (no known peak; --peak-tflops)"),
             "ratios: this row's median time (or peak) / the anchor's at the same batch; < 1 is faster (smaller)",
             "warm-up s: process set-up + warm-up steps (includes torch.compile's compilation)"]
    return "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} logical CPUs"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None):
    a = parse_args(argv)
    if a._row:
        python_row(a)
        return 0
    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.perf_counter()
    json_path = os.path.splitext(a.out)[0] + ".json" if a.out else None

    def write(rows, peak, gpu):
        """The table and rows so far into --out (rewritten after every row: a killed run keeps them)."""
        peak_flops = a.peak_tflops * 1e12 if a.peak_tflops > 0 else peak
        derive(rows, peak_flops)
        text = table(a, rows, peak_flops, gpu, started)
        if a.out:
            with open(a.out + ".tmp", "w") as f:
                f.write(text)
            os.replace(a.out + ".tmp", a.out)
            with open(json_path + ".tmp", "w") as f:
                json.dump({"started_utc": started.isoformat(),
                           "args": {k: v for k, v in vars(a).items() if not k.startswith("_")},
                           "gpu_name": gpu, "cpu": cpu_model(), "peak_flops": peak_flops, "rows": rows}, f, indent=1)
            os.replace(json_path + ".tmp", json_path)
        return text

    if a.out and os.path.dirname(a.out):
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
    log_path = (a.out + ".log") if a.out else os.devnull
    with open(log_path, "w") as log:
        rows, peak, gpu = measure(a, log, t_start, write)
    print(write(rows, peak, gpu), end="")
    if a.out:
        print(f"step_anchors: table in {a.out}, rows in {json_path}, child output in {log_path} "
              f"({time.perf_counter() - t_start:.1f} s)", file=sys.stderr)
    # The table is the result; a row that failed (not "not available") makes the run fail.
    bad = [r for r in rows if r["status"] != "ok" and not r["status"].startswith("not available")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
