#!/usr/bin/env python3
"""prometheus_training_test.py - a real Prometheus scrapes a real 2-rank CPU training run.

Makes a tiny random BERT (hidden 32, 2 layers, the bert-base-uncased vocabulary) and a tiny
corpus (`simcsepp prep` of shared wiki sentences), starts Debian's prometheus with the shipped
monitoring/prometheus/prometheus.yml and simcsepp_rules.yml (only the intervals shortened to 1 s
and the paths made absolute, as prometheus_service_test.py does) on a free loopback port with a
temporary TSDB, then runs `mpirun -np 2 simcsepp train --comm mpi --device cpu --metrics-port 0`
and links the run's prometheus_targets.json into the config's targets/ directory as
docs/monitoring.md says. Checks:
  a. while the run is live, every rank's /metrics (endpoints from the targets file) has the
     text-format Content-Type and passes `promtool check metrics` with no problem reported;
  b. every simcsepp_* metric that the Grafana dashboard and the rules use (recorded simcsepp:*
     names excluded; _bucket/_sum/_count mapped to the histogram family) is really fed by the
     trainer in at least one live scrape of EACH rank: a gauge has a finite value, a counter
     is > 0, a histogram has observations; labelled families have every series the dashboard
     shows (all step phases; the all_reduce and all_gather collectives of a 2-rank run).
     Exceptions, documented in docs/monitoring.md: GPU memory and MFU are NaN on CPU and
     skipped steps are 0 in a healthy run; those need only be exported. Missing names are
     listed per rank and fail the test;
  c. after the run exited 0 (and emptied its targets file), Prometheus' HTTP API has, for rank
     "0" and rank "1": simcsepp_train_loss finite in (0, 50), rate(simcsepp_sentences_total) and
     simcsepp_sentences_per_second finite and > 0, simcsepp_steps_total increasing, an STS-B dev
     Spearman series in [-1, 1], several scrapes per rank, and up == 1 seen for both targets;
  d. everything runs on 127.0.0.1; Prometheus and mpirun (its whole process group) are stopped
     on every exit path; the test is bounded to ~220 s.
Event-driven, not timed: the run holds after its first and after its last step
(SIMCSEPP_TEST_HOLD_FILE, docs/training.md) until this test has seen what it needs there - the
live scrapes of a. and Prometheus' stored samples before and after the training - so a machine
that trains the whole run between two scrapes passes as well as a slow one.
"""
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prometheus_harness import (PrometheusServer, fail, http_get, link_targets, need,  # noqa: E402
                                print_log_tail, run_or_fail, wait_for, write_test_config)

SOURCE = os.path.abspath(os.environ.get("SIMCSEPP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../..")))
BUILD = os.path.abspath(os.environ.get("SIMCSEPP_BUILD_DIR", os.path.join(SOURCE, "build")))
BIN = os.path.abspath(os.environ.get("SIMCSEPP_BIN", os.path.join(BUILD, "bin", "simcsepp")))
DATA = os.path.abspath(os.environ.get("SIMCSEPP_SHARED_DATA", os.path.join(SOURCE, "..", "shared", "data")))
VOCAB = os.path.join(DATA, "vocab", "bert-base-uncased-vocab.txt")
PROM_DIR = os.path.join(SOURCE, "monitoring", "prometheus")
DASHBOARD = os.path.join(SOURCE, "monitoring", "grafana", "simcsepp_training.json")
RULES = os.path.join(PROM_DIR, "simcsepp_rules.yml")
DEFAULT_MPIRUN = ("mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader,tcp "
                  "--mca btl_vader_single_copy_mechanism none")
MPIRUN = shlex.split(os.environ.get("SIMCSEPP_MPIRUN", DEFAULT_MPIRUN))
RUN_ID = f"promtrain-{os.getpid()}"
RANKS = ["0", "1"]
MAX_STEPS = int(os.environ.get("SIMCSEPP_PROMTRAIN_STEPS", "40"))
EVAL_EVERY = MAX_STEPS // 4
DEADLINE = time.monotonic() + 220
SETUP_HINT = "run scripts/setup.sh (installs Debian's prometheus package and Open MPI)"

NAME = re.compile(r"\bsimcsepp_[A-Za-z0-9_]+")
SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s+(\S+)(\s+-?\d+)?$")
LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
# Series a labelled family must have fed (a 2-rank data-parallel run times every phase and
# runs gradient all-reduces and the contrastive losses' embedding all-gathers).
REQUIRED_SERIES = {
    "simcsepp_step_phase_seconds": ("phase", ["data_wait", "forward", "backward", "communication", "optimizer"]),
    "simcsepp_step_phase_seconds_total": ("phase", ["data_wait", "forward", "backward", "communication", "optimizer"]),
    "simcsepp_collective_bus_bandwidth_bytes_per_second": ("op", ["all_reduce", "all_gather"]),
    "simcsepp_collective_algorithm_bandwidth_bytes_per_second": ("op", ["all_reduce", "all_gather"]),
    "simcsepp_collective_bytes_total": ("op", ["all_reduce", "all_gather"]),
    "simcsepp_collective_seconds_total": ("op", ["all_reduce", "all_gather"]),
    "simcsepp_collective_calls_total": ("op", ["all_reduce", "all_gather"]),
}
# Exported but legitimately without a measured value here (docs/monitoring.md): GPU-only
# metrics on a CPU run, and the skipped-steps counter of a healthy run.
PRESENCE_ONLY = {
    "simcsepp_gpu_memory_used_bytes": "GPU only (NaN on CPU)",
    "simcsepp_gpu_memory_reserved_bytes": "GPU only (NaN on CPU)",
    "simcsepp_model_flops_utilization_ratio": "GPU only (NaN on CPU)",
    "simcsepp_skipped_steps_total": "0 in a healthy run",
    # This run trains simcse++; python.train_diffcse covers the RTD values (metrics.jsonl and report).
    "simcsepp_train_rtd_loss": "DiffCSE only (NaN otherwise)",
    "simcsepp_train_rtd_accuracy": "DiffCSE only (NaN otherwise)",
}

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def remaining():
    return DEADLINE - time.monotonic()


def make_model(path):
    """tests/python/trainer_run.py's tiny random BERT: hidden 32, 2 layers, bert-base-uncased vocab."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64)
    bert = BertModel(cfg, add_pooling_layer=False)
    tensors = {"bert." + k: v.contiguous() for k, v in bert.state_dict().items() if "position_ids" not in k}
    tensors["mlp.dense.weight"] = torch.randn(32, 32) * 0.02
    tensors["mlp.dense.bias"] = torch.zeros(32)
    os.makedirs(path, exist_ok=True)
    save_file(tensors, os.path.join(path, "model.safetensors"))
    cfg.to_json_file(os.path.join(path, "config.json"))
    shutil.copy(VOCAB, os.path.join(path, "vocab.txt"))
    return path


def parse_exposition(text):
    """-> ({family: type}, [(sample name, {labels}, value)])."""
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind.strip()
        elif line and not line.startswith("#"):
            m = SAMPLE.match(line)
            if not m:
                raise ValueError(f"unparsable sample line: {line!r}")
            labels = dict(LABEL.findall(m.group(2) or ""))
            samples.append((m.group(1), labels, float(m.group(3))))
    return types, samples


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and types.get(base) == "histogram":
            return base
    return name


def used_names():
    """simcsepp_* names in the dashboard's PromQL and in the rules, as families."""
    def exprs_in(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "definition", "query") and isinstance(value, str):
                    yield value
                else:
                    yield from exprs_in(value)
        elif isinstance(node, list):
            for item in node:
                yield from exprs_in(item)

    with open(DASHBOARD) as f:
        exprs = list(exprs_in(json.load(f)))
    with open(RULES) as f:
        exprs += [rule["expr"] for group in yaml.safe_load(f)["groups"] for rule in group["rules"]]
    return {n for e in exprs for n in NAME.findall(e)}  # simcsepp:* recorded names never match


def fed_series(types, samples):
    """(family, series key) pairs that carry a measured value in one scrape: a finite gauge, a
    counter > 0, a histogram with observations. The key is the label REQUIRED_SERIES asks for."""
    fed, present = set(), set()
    for name, labels, value in samples:
        family = family_of(name, types)
        kind = types.get(family)
        label = REQUIRED_SERIES.get(family, (None,))[0]
        key = labels.get(label) if label else None
        present.add(family)
        if kind == "gauge":
            ok = math.isfinite(value)
        elif kind == "counter":
            ok = math.isfinite(value) and value > 0
        elif kind == "histogram":
            ok = name == family + "_count" and value > 0
        else:
            ok = math.isfinite(value)
        if ok:
            fed.add((family, key))
    return fed, present


def main():
    # ctest's timeout or a ^C: unwind through the finally below, which stops mpirun and Prometheus.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("FAIL: terminated (SIGTERM)"))
    promtool = need("promtool", SETUP_HINT)
    prometheus = need("prometheus", SETUP_HINT)
    need(MPIRUN[0], SETUP_HINT)
    if not os.access(BIN, os.X_OK):
        fail(f"{BIN} missing. HINT: build the simcsepp target")
    for path in (VOCAB, os.path.join(DATA, "corpus", "wiki1m_head.txt")):
        if not os.path.isfile(path):
            fail(f"{path} missing. HINT: set SIMCSEPP_SHARED_DATA to the shared data directory")

    tmp = tempfile.mkdtemp(prefix="simcsepp_promtrain_")
    prom = trainer = None
    trainer_log_path = os.path.join(tmp, "train.log")
    prom_log_path = os.path.join(tmp, "prometheus.log")
    try:
        # Inputs: tiny model, tiny corpus, 200 STS-B dev pairs.
        t0 = time.monotonic()
        model = make_model(os.path.join(tmp, "model"))
        corpus_txt = os.path.join(tmp, "corpus.txt")
        with open(os.path.join(DATA, "corpus", "wiki1m_head.txt")) as f, open(corpus_txt, "w") as out:
            out.writelines(f.readlines()[:2000])
        corpus = os.path.join(tmp, "corpus")
        run_or_fail([BIN, "prep", "-i", corpus_txt, "-o", corpus, "--vocab", VOCAB, "--max-len", "32",
                     "--shard-rows", "1000", "--no-progress"], timeout=120)
        sts_dev = os.path.join(tmp, "sts-dev.csv")
        with open(os.path.join(DATA, "sts", "STSBenchmark", "sts-dev.csv")) as f, open(sts_dev, "w") as out:
            out.writelines(f.readlines()[:200])
        print(f"model and corpus ready ({time.monotonic() - t0:.1f} s)", flush=True)

        # The shipped config, with test intervals and absolute paths; targets/ linked later.
        config_path, targets_dir = write_test_config(PROM_DIR, tmp, promtool)
        prom = PrometheusServer(prometheus, config_path, tmp)
        wait_for("Prometheus ready", prom.ready, 30, DEADLINE)  # ready() restarts it on a lost port

        def query(expr):
            return prom.query(expr, timeout=10)

        # The real training run: 2 ranks on CPU, every rank on a free loopback port.
        run_dir = os.path.join(tmp, "run")
        targets_file = os.path.join(run_dir, "prometheus_targets.json")
        # The run holds after step 1 and after its last step while these files exist.
        hold = os.path.join(tmp, "hold")
        holds = {1: f"{hold}.1", MAX_STEPS: f"{hold}.{MAX_STEPS}"}
        for path in holds.values():
            open(path, "w").close()
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"), SIMCSEPP_TEST_HOLD_FILE=hold)
        cmd = MPIRUN + ["-np", "2", BIN, "train", "--model", model, "--corpus", corpus, "--run-dir", run_dir,
                        "--sts-dev", sts_dev, "--batch-size", "16", "--max-steps", str(MAX_STEPS),
                        "--eval-every", str(EVAL_EVERY), "--lr", "1e-4", "--device", "cpu", "--comm", "mpi",
                        "--metrics", "1", "--metrics-bind", "127.0.0.1", "--metrics-port", "0",
                        "--run-id", RUN_ID, "--no-export", "--log-every", "10"]
        print("$ " + " ".join(cmd), flush=True)
        started = time.time()
        with open(trainer_log_path, "w") as trainer_log:
            trainer = subprocess.Popen(cmd, env=env, stdout=trainer_log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)

        def announced():
            with open(targets_file) as f:
                groups = json.load(f)
            return groups if groups and len(groups[0]["targets"]) == 2 else None
        groups = wait_for("the run's targets file listing 2 endpoints", announced, 120, DEADLINE,
                          alive=lambda: trainer.poll() is None)
        endpoints = groups[0]["targets"]
        check(groups[0]["labels"].get("run_id") == RUN_ID, f"targets file labels {groups[0]['labels']}")
        check(all(e.startswith("127.0.0.1:") for e in endpoints), f"loopback endpoints {endpoints}")
        link_targets(targets_file, targets_dir, RUN_ID)
        print(f"run {RUN_ID} announced {endpoints} after {time.time() - started:.1f} s", flush=True)

        # Scrape every rank directly while the run is live; lint the first scrape of each rank
        # that has recorded a step right away (a).
        scrapes = {r: [] for r in RANKS}  # rank -> [(time, text)]
        linted_live = set()
        bad_content_type = []
        scrape_errors = 0

        def live_steps(rank):
            """simcsepp_steps_total in the newest live scrape of a rank (0 before any)."""
            m = scrapes[rank] and re.search(r"^simcsepp_steps_total\{[^}]*\} (\S+)", scrapes[rank][-1][1], re.M)
            return float(m.group(1)) if m else 0

        def stored(steps):
            """Prometheus has stored simcsepp_steps_total == steps for both ranks."""
            got = query(f'simcsepp_steps_total{{run_id="{RUN_ID}"}} == {steps}')
            return sorted(r["metric"].get("rank") for r in got) == RANKS

        def scraped(times):
            """Prometheus has stored at least `times` loss samples of both ranks."""
            got = query(f'count_over_time(simcsepp_train_loss{{run_id="{RUN_ID}"}}[5m]) >= {times}')
            return sorted(r["metric"].get("rank") for r in got) == RANKS

        def release(step, ready):
            """Lets the run go on past `step` once `ready` (what the test needs there) holds."""
            if os.path.exists(holds[step]) and ready():
                os.remove(holds[step])
                print(f"released the hold after step {step} ({time.time() - started:.1f} s; live scrapes "
                      f"{ {r: len(v) for r, v in scrapes.items()} })", flush=True)

        def lint(endpoint, text):
            res = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                                 timeout=30)
            problems = (res.stdout + res.stderr).strip()
            return res.returncode == 0 and not problems, problems

        while trainer.poll() is None:
            if remaining() < 40:
                fail(f"the training run is still going after {time.time() - started:.0f} s")
            for rank, endpoint in zip(RANKS, endpoints):
                try:
                    status, headers, body = http_get(f"http://{endpoint}/metrics", timeout=3)
                except Exception:
                    scrape_errors += 1  # the endpoint stops when the rank finishes
                    continue
                if status != 200 or not headers["Content-Type"].startswith("text/plain; version=0.0.4"):
                    bad_content_type.append(f"{endpoint}: {status} {headers['Content-Type']}")
                if trainer.poll() is not None:
                    break  # ended meanwhile: this scrape may be of a finished rank
                scrapes[rank].append((time.time(), body))
                if rank not in linted_live and re.search(r"^simcsepp_steps_total\{[^}]*\} [1-9]", body, re.M):
                    ok, problems = lint(endpoint, body)
                    check(ok, f"a. live scrape of rank {rank} ({endpoint}) passes promtool check metrics"
                          + ("" if ok else ":\n" + problems))
                    linted_live.add(rank)
            # After step 1: both ranks linted live, Prometheus holds a sample before training.
            release(1, lambda: linted_live == set(RANKS) and stored(1))
            # After the last step: 5 live scrapes per rank, Prometheus holds the final samples and
            # has scraped each rank 3 times (the 40 steps alone may take less than a scrape interval).
            release(MAX_STEPS, lambda: not os.path.exists(holds[1])
                    and all(live_steps(r) == MAX_STEPS and len(scrapes[r]) >= 5 for r in RANKS)
                    and stored(MAX_STEPS) and scraped(3))
            time.sleep(0.5)
        rc = trainer.wait()
        ended = time.time()
        with open(trainer_log_path) as f:
            log = f.read()
        if rc != 0:
            fail(f"mpirun exited {rc} after {ended - started:.1f} s:\n{log[-3000:]}")
        print(f"run finished (exit 0) after {ended - started:.1f} s; live scrapes per rank: "
              f"{ {r: len(s) for r, s in scrapes.items()} }, failed scrapes {scrape_errors}", flush=True)
        with open(targets_file) as f:
            check(json.load(f)[0]["targets"] == [], "the finished run emptied its targets file")
        check("metrics endpoint disabled" not in log, "no rank ran without its /metrics endpoint")

        # a. Every live scrape is lint-clean and well labelled.
        check(not bad_content_type, f"a. /metrics status 200, Content-Type text/plain; version=0.0.4 {bad_content_type}")
        for rank in RANKS:
            check(rank in linted_live, f"a. rank {rank} was linted live after its first step")
            check(len(scrapes[rank]) >= 5, f"a. rank {rank}: {len(scrapes[rank])} live scrapes (>= 5)")
            # promtool per scrape costs ~0.1 s of a loaded core: lint 12 spread over the run.
            picked = sorted({round(i * (len(scrapes[rank]) - 1) / 11) for i in range(12)}) if scrapes[rank] else []
            problems = set()
            for i in picked:
                ok, out = lint(endpoints[int(rank)], scrapes[rank][i][1])
                if not ok:
                    problems.add(out)
            check(not problems, f"a. {len(picked)} live scrapes of rank {rank} spread over the run pass promtool "
                  "check metrics" + ("" if not problems else ":\n" + "\n".join(sorted(problems))))

        # b. Every metric the dashboard and rules use is fed on each rank.
        used = used_names()
        missing = {}
        for rank in RANKS:
            fed, present, types = set(), set(), {}
            labels_ok = True
            for _, text in scrapes[rank]:
                t, samples = parse_exposition(text)
                types.update(t)
                f_, p_ = fed_series(t, samples)
                fed |= f_
                present |= p_
                labels_ok &= all(s[1].get("rank") == rank and s[1].get("run_id") == RUN_ID for s in samples)
            check(labels_ok, f"b. every sample of endpoint {endpoints[int(rank)]} has rank=\"{rank}\", run_id=\"{RUN_ID}\"")
            families = sorted({family_of(n, types) for n in used})
            for family in families:
                if family not in present:
                    missing.setdefault(family, []).append(f"rank {rank}: not exported")
                elif family in PRESENCE_ONLY:
                    continue
                elif family in REQUIRED_SERIES:
                    label, values = REQUIRED_SERIES[family]
                    lacking = [v for v in values if (family, v) not in fed]
                    if lacking:
                        missing.setdefault(family, []).append(
                            f"rank {rank}: no value for {label}={','.join(lacking)}")
                elif not any(f == family for f, _ in fed):
                    kind = types.get(family, "?")
                    what = {"gauge": "never a finite value", "counter": "never > 0",
                            "histogram": "no observations"}.get(kind, "no value")
                    missing.setdefault(family, []).append(f"rank {rank}: {kind}, {what}")
        print(f"b. {len(families)} metric families used by the dashboard and rules; presence-only on CPU: "
              f"{', '.join(sorted(PRESENCE_ONLY))}", flush=True)
        if missing:
            print("b. MISSING from the live training run (used by the dashboard/rules, not fed by the trainer):")
            for family in sorted(missing):
                print(f"     {family}: {'; '.join(missing[family])}")
        check(not missing, f"b. all used metrics fed on both ranks ({len(missing)} missing: "
              f"{', '.join(sorted(missing))})")

        # c. What Prometheus stored, queried after the run (its targets are gone by now).
        sel = f'run_id="{RUN_ID}"'

        def by_rank(expr):
            out = {}
            for r in query(expr):
                out.setdefault(r["metric"].get("rank"), []).append(float(r["value"][1]))
            return out

        def per_rank(what, expr, good):
            values = by_rank(expr)
            ok = sorted(values) == RANKS and all(len(v) == 1 and good(v[0]) for v in values.values())
            check(ok, f"c. {what}: {expr} -> {values}")

        finite = math.isfinite
        per_rank("loss finite, 0 < loss < 50", f"last_over_time(simcsepp_train_loss{{{sel}}}[5m])",
                 lambda v: finite(v) and 0 < v < 50)
        per_rank("scraped several times", f"count_over_time(simcsepp_train_loss{{{sel}}}[5m])", lambda v: v >= 3)
        per_rank("sentence throughput rate > 0",
                 f"max_over_time(rate(simcsepp_sentences_total{{{sel}}}[5s])[5m:1s])", lambda v: finite(v) and v > 0)
        per_rank("sentences_per_second > 0", f"last_over_time(simcsepp_sentences_per_second{{{sel}}}[5m])",
                 lambda v: finite(v) and v > 0)
        # The per-step gauge agrees with the counter: never above 10x the best 5 s counter rate
        # (steps of one run on the same CPU do not differ tenfold; a near-zero step time does).
        per_rank("sentences_per_second <= 10x the best 5 s rate of simcsepp_sentences_total",
                 f"max_over_time(simcsepp_sentences_per_second{{{sel}}}[5m]) / "
                 f"max_over_time(rate(simcsepp_sentences_total{{{sel}}}[5s])[5m:1s])",
                 lambda v: finite(v) and 0 < v <= 10)
        per_rank("steps counter increased",
                 f"max_over_time(simcsepp_steps_total{{{sel}}}[5m]) - min_over_time(simcsepp_steps_total{{{sel}}}[5m])",
                 lambda v: finite(v) and v > 0)
        per_rank(f"steps counter <= {MAX_STEPS}", f"last_over_time(simcsepp_steps_total{{{sel}}}[5m])",
                 lambda v: 0 < v <= MAX_STEPS)
        per_rank("STS-B dev Spearman in [-1, 1]", f"last_over_time(simcsepp_dev_spearman{{{sel}}}[5m])",
                 lambda v: finite(v) and -1 <= v <= 1)
        per_rank("dev evaluations counted", f"last_over_time(simcsepp_dev_evaluations_total{{{sel}}}[5m])",
                 lambda v: v >= 1)
        up = query(f'max_over_time(up{{job="simcsepp",{sel}}}[5m])')
        up_seen = {r["metric"]["instance"]: float(r["value"][1]) for r in up}
        check(sorted(up_seen) == sorted(endpoints) and all(v == 1 for v in up_seen.values()),
              f"c. up == 1 seen for both targets during the run: {up_seen}")
        print(f"total {time.time() - started:.1f} s since the run started")
    except BaseException:
        for name, path in (("train.log", trainer_log_path), ("prometheus.log", prom_log_path)):
            print_log_tail(name, path)
        raise
    finally:
        if trainer is not None and trainer.poll() is None:
            try:
                os.killpg(trainer.pid, signal.SIGTERM)  # mpirun and its ranks: their own session
                trainer.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(trainer.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                trainer.wait()
        if prom is not None:
            prom.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("FAILED:" if failures else "PASS", *failures, sep="\n  ")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
