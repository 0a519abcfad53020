#!/usr/bin/env bash
# device-check.sh - the GPU device check of issue 13, as ONE prepared script (docs/gpu.md).
#
#   here, once:  ../shared/tools/device-deps.sh fetch       -> .device-deps/  (13 MB, git-ignored)
#                bash scripts/device-check.sh prepare        -> .device-data/  (corpus slice, STS-B dev, vocab)
#   device run:  carry [".device-deps", ".device-data"], timeout_s 540, command:
#                bash scripts/device-check.sh
#   here, no GPU: bash scripts/device-check.sh --dry-run     (plumbing; GPU stages: "not run: no GPU")
#                bash scripts/device-check.sh --cpu          (GPU stages' logic on the CPU, tiny sizes)
#
# Stages (each with its own timeout, log folder and pass / fail / not run line; a failed stage
# never stops the next): build, inspect, parity, attention, graph, train (+ prometheus, resume), bench,
# variants, nccl_tests.
# SIMCSEPP_CHECK_STAGES="build graph bench" runs only those (the others read "not selected"), e.g.
# for a second try in the same lease. The whole run stops starting stages at SIMCSEPP_CHECK_BUDGET_S (default 470 s: under 8 minutes
# including the build, so a second try fits in a 15-minute lease). Results: $OUT/summary.md and
# $OUT/stages.tar.gz (<stage>/ folders with every log), rewritten after every stage, so whatever
# ran is there even if a later stage hangs. The device tool brings back 8 files at most: keep it
# to these. Without $OUT (by hand): build-device-out/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

die() {
  echo "device-check: ERROR: $1" >&2
  [ -z "${2:-}" ] || echo "device-check: HINT: $2" >&2
  exit 1
}

data=$root/.device-data

# --- prepare (here): the carried data ---------------------------------------------------------
prepare() {
  local src=${SIMCSEPP_SHARED_DATA:-$root/../shared/data} lines=${SIMCSEPP_CHECK_CORPUS_LINES:-8000} f
  [ -d "$src/corpus" ] || die "$src/corpus not found" "run prepare in the project checkout, with ../shared beside it (or SIMCSEPP_SHARED_DATA=...)"
  git check-ignore -q .device-data/x || die ".device-data/ is not git-ignored: it would travel as part of the tree" "add /.device-data/ to .gitignore"
  rm -rf "$data" && mkdir -p "$data/corpus"
  # A slice: 300 steps x 64 sentences need 19 200; 3 files x 8000 lines is about one epoch.
  for f in "$src"/corpus/*.txt; do head -n "$lines" "$f" >"$data/corpus/$(basename "$f")"; done
  cp "$src/sts/STSBenchmark/sts-dev.csv" "$data/sts-dev.csv"
  cp "$src/vocab/bert-base-uncased-vocab.txt" "$data/vocab.txt"
  [ -d .device-deps ] || echo "device-check: WARNING: .device-deps/ missing; run ../shared/tools/device-deps.sh fetch" >&2
  local tree carried
  tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
  carried=$(du -sb "$data" .device-deps 2>/dev/null | awk '{s += $1} END {print s}')
  echo "device-check: prepared $data ($(du -sh "$data" | cut -f1)): $(wc -l <"$data/sts-dev.csv") STS-B dev lines, corpus $(cat "$data"/corpus/*.txt | wc -l) lines"
  echo "device-check: travels: tree $((tree / 1048576)) MiB + carried $((carried / 1048576)) MiB (limit 64 MiB)"
  [ $((tree + carried)) -lt $((60 * 1048576)) ] || die "over 60 MiB would travel" "SIMCSEPP_CHECK_CORPUS_LINES=4000 bash scripts/device-check.sh prepare"
  echo "device-check: carry [\".device-deps\", \".device-data\"]; command: bash scripts/device-check.sh; timeout_s 540"
}

mode=device
case "${1:-}" in
  prepare) prepare; exit 0 ;;
  --dry-run) mode=dry ;;
  --cpu) mode=cpu ;;
  __stage) mode=stage ;;
  __train) mode=train ;;
  "") ;;
  *) echo "usage: $0 [prepare | --dry-run | --cpu]" >&2; exit 2 ;;
esac

# --- one stage, run as `device-check.sh __stage NAME` under timeout (environment carries the rest)
if [ "$mode" = stage ]; then
  name=$2
  dir=$WORK/$name
  export PYTHONUNBUFFERED=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  note() { echo "$*" >"$dir/result"; }     # the stage's one-line result for the summary
  detail() { echo "$*" >>"$dir/detail.md"; }  # extra lines for summary.md (not the screen)
  notrun() { note "$1"; exit 3; }
  bin=$BUILD/bin
  gpu_stage() { [ "$CHECK_MODE" != dry ] || notrun "not run: no GPU (--dry-run)"; }
  # run_gpu_gtest BINARY TXT DETAIL_REGEX: runs a GPU GoogleTest binary into $dir/TXT (and its XML),
  # appends the lines matching DETAIL_REGEX to detail.md, sets rc; a run whose tests skipped
  # themselves (no CUDA device) is "not run", never a pass.
  run_gpu_gtest() {
    [ -x "$bin/$1" ] || notrun "not built (no $bin/$1)"
    set +e
    "$bin/$1" --gtest_output="xml:$dir/$1.xml" 2>&1 | tee "$dir/$2"
    rc=${PIPESTATUS[0]}
    set -e
    grep -E "$3" "$dir/$2" | sed 's/^/    /' >>"$dir/detail.md" || true
    ! grep -q '^\[  SKIPPED \]' "$dir/$2" || notrun "not run: no CUDA device"
  }
  case "$name" in
    build)
      if [ "$CHECK_MODE" = device ]; then
        # The check's own binaries, plus any NCCL GoogleTest target this tree defines.
        SIMCSEPP_BUILD_TARGETS="simcsepp objective_parity_tool bench_step test_model_cuda test_trainer_cuda" \
          SIMCSEPP_BUILD_TARGETS_MATCH='(^test_.*nccl|nccl.*_test$)' SIMCSEPP_BUILD_DIR=$BUILD OUT=$dir \
          bash scripts/device-build.sh
        note "$(grep -o 'configured in .*' "$dir/build.log" | tail -1)"
      else
        # No GPU here: run the checks, use the existing build ($SIMCSEPP_BUILD_DIR, default build/).
        if [ -d .device-deps ]; then
          DEPS_PREFIX=${DEPS_PREFIX:-$WORK/deps} OUT=$dir bash scripts/device-build.sh --check-only
        else
          echo "no .device-deps here: device-build.sh checks skipped"
        fi
        [ -x "$bin/simcsepp" ] || { note "no $bin/simcsepp: build first (scripts/build.sh)"; exit 1; }
        note "checks only (no GPU): using the existing build $BUILD"
      fi ;;
    inspect)
      "$bin/simcsepp" inspect | tee "$dir/inspect.txt"
      devices=$(awk '/CUDA devices/ {print $3}' "$dir/inspect.txt")
      linked=$(sed -n 's/^  NCCL  *\([0-9.]*\) linked from \(.*\) (\(.*\))$/\1 \2|\3/p' "$dir/inspect.txt")
      loaded=$(sed -n 's/^  NCCL loaded  *\([0-9.]*\) from \(.*\)$/\1|\2/p' "$dir/inspect.txt")
      [ -n "$linked" ] || { note "no NCCL compiled in"; exit 1; }
      same=no
      [ "$(readlink -f "${linked#*|}")" = "$(readlink -f "${loaded#*|}")" ] && same=yes
      note "NCCL ${linked%|*} (${linked#*|}); loaded ${loaded%|*}, same file: $same; CUDA devices $devices"
      [ "$same" = yes ] || exit 1
      [ "$CHECK_MODE" != device ] || [ "${devices:-0}" -ge 1 ] || exit 1 ;;
    parity)
      gpu_stage
      if [ "$CHECK_MODE" = device ]; then args=(--device cuda --size base); else args=(--device cpu --size tiny); fi
      set +e
      SIMCSEPP_BUILD_DIR=$BUILD python3 tests/python/cuda_parity.py "${args[@]}" --json "$dir/parity.json" 2>&1 | tee "$dir/parity.txt"
      rc=${PIPESTATUS[0]}
      set -e
      grep -E '^(fp32|bf16):|  (ok  |FAIL) ' "$dir/parity.txt" | sed 's/^/    /' >>"$dir/detail.md" || true
      note "$(grep -c '^  ok  ' "$dir/parity.txt" || true) checks ok, $(grep -c '^  FAIL' "$dir/parity.txt" || true) failed (${args[*]})"
      exit "$rc" ;;
    attention)
      gpu_stage
      run_gpu_gtest test_model_cuda attention.txt '^(backend|math|efficient|cudnn|flash|auto picks)'
      note "$(grep '^auto picks' "$dir/attention.txt" || echo 'no result'); exit $rc (table in summary.md)"
      exit "$rc" ;;
    graph)
      gpu_stage
      run_gpu_gtest test_trainer_cuda graph.txt '^(losses|parameters|ms/step|lr 0|forced NCCL)'
      note "$(grep -E '^(losses|ms/step)' "$dir/graph.txt" | tr '\n' ' ' | cut -c1-280); exit $rc"
      exit "$rc" ;;
    nccl_tests)
      gpu_stage
      mapfile -t tests < <(find "$bin" -maxdepth 1 -type f -executable \( -name 'test_*nccl*' -o -name '*nccl*_test' \) | sort)
      [ "${#tests[@]}" -gt 0 ] || notrun "not built (no NCCL GoogleTest binary in $bin yet)"
      fails=0 skipped=0
      for t in "${tests[@]}"; do
        echo "== $t"
        "$t" --gtest_output="xml:$dir/$(basename "$t").xml" 2>&1 | tee "$dir/$(basename "$t").log"
        [ "${PIPESTATUS[0]}" = 0 ] || fails=$((fails + 1))
        # A test that skipped itself (no CUDA device) ran nothing: never count it as a pass.
        ! grep -q '^\[  SKIPPED \]' "$dir/$(basename "$t").log" || skipped=$((skipped + 1))
      done
      [ "$skipped" = 0 ] || [ "$fails" != 0 ] || notrun "not run: ${skipped} of ${#tests[@]} binaries skipped their tests (no CUDA device?)"
      note "${#tests[@]} binaries, $fails failed, $skipped with skipped tests: ${tests[*]##*/}"
      [ "$fails" = 0 ] && [ "$skipped" = 0 ] ;;
    train)
      gpu_stage
      bash scripts/device-check.sh __train "$dir" ;;
    bench)
      gpu_stage
      # bench/step_anchors.py (docs/performance.md): HF eager, HF torch.compile, simcsepp eager and
      # captured, in one run; each row in its own process with a timeout, the driver inside its own
      # budget so the table always comes back (rows it had no time for say "not run").
      if [ "$CHECK_MODE" = device ]; then
        args=(--device cuda --batches 64,512 --len 32 --layers 12 --hidden 768 --steps 20 --warmup 5
          --row-timeout 45 --budget-s 140)
      else
        args=(--device cpu --batches 8 --len 16 --layers 2 --hidden 64 --steps 3 --warmup 2 --threads 1
          --row-timeout 120 --budget-s 140)
      fi
      [ -x "$bin/bench_step" ] || notrun "not run: no $bin/bench_step"
      set +e
      python3 bench/step_anchors.py "${args[@]}" --bench-step "$bin/bench_step" --out "$dir/step_anchors.md" 2>&1 \
        | tee "$dir/step_anchors.txt"
      rc=${PIPESTATUS[0]}
      set -e
      [ ! -f "$dir/step_anchors.md" ] || sed 's/^/    /' "$dir/step_anchors.md" >>"$dir/detail.md"
      # One line for the summary: each row's median ms at each batch.
      note "$(python3 - "$dir/step_anchors.json" "${args[*]}" <<'EOF'
import json, sys
try:
    rows = json.load(open(sys.argv[1]))["rows"]
except (OSError, ValueError) as e:
    print(f"no table ({type(e).__name__}); {sys.argv[2]}")
    sys.exit()
short = {"HF eager": "HF", "HF torch.compile": "HF compiled", "simcsepp eager": "simcsepp", "simcsepp captured": "captured"}
parts = []
for b in dict.fromkeys(r["batch"] for r in rows):
    cells = [f"{short[r['impl']]} " + (f"{r['ms_median']:.1f}" if r["status"] == "ok" else r["status"].split(" (")[0])
             for r in rows if r["batch"] == b]
    parts.append(f"b{b}: " + ", ".join(cells))
print("ms/step " + "; ".join(parts) + " (table in summary.md)")
EOF
)"
      exit "$rc" ;;
    variants)
      gpu_stage
      # Each step variant alone (docs/performance.md, "measure each"): eager / captured x separate /
      # fused off-dropout call, BERT-base, seq 32 (CPU mode: a tiny shape; captured is not available).
      [ -x "$bin/bench_step" ] || notrun "not run: no $bin/bench_step"
      if [ "$CHECK_MODE" = device ]; then
        shape=(--device cuda --batch 64 --len 32 --layers 12 --hidden 768 --steps 20 --warmup 5)
      else
        shape=(--device cpu --batch 8 --len 16 --layers 2 --hidden 64 --steps 10 --warmup 2 --threads 1)
      fi
      { echo "| step | off-dropout call | ms/step (median) | min-max | peak MiB | replays |"; echo "|---|---|---|---|---|---|"; } >"$dir/variants.md"
      fails=0
      for graphs in "" --cuda-graphs; do
        for fused in "" --fused-off-call; do
          set +e
          row=$(timeout 40 "$bin/bench_step" "${shape[@]}" --json $graphs $fused 2>"$dir/variant.err")
          rc=$?
          set -e
          what="$([ -n "$graphs" ] && echo "simcsepp captured" || echo "simcsepp eager") | $([ -n "$fused" ] && echo fused || echo separate)"
          if [ "$rc" = 0 ]; then
            python3 -c 'import json, sys
r = json.loads(sys.argv[1]); s = r["ms_samples"]
print("| %s | %s | %.2f | %.2f-%.2f | %.0f | %s |" % (r["impl"], r["off_dropout_call"], r["ms_median"], min(s), max(s),
                                                    r["peak_mem_mib"], r["replays"]))' "$row" >>"$dir/variants.md"
          elif [ "$rc" = 3 ]; then
            echo "| $what | not available: $(tail -1 "$dir/variant.err" | sed 's/.*not available: //' | cut -c1-120) | | | |" >>"$dir/variants.md"
          else
            fails=$((fails + 1))
            echo "| $what | failed (exit $rc): $(tail -1 "$dir/variant.err" | cut -c1-120) | | | |" >>"$dir/variants.md"
          fi
        done
      done
      cat "$dir/variants.md"
      sed 's/^/    /' "$dir/variants.md" >>"$dir/detail.md"
      note "$(awk -F'|' 'NR > 2 {printf "%s/%s:%s; ", $2, $3, $4}' "$dir/variants.md" | tr -s ' ' | cut -c1-280)"
      [ "$fails" = 0 ] ;;
    *) echo "unknown stage $name" >&2; exit 2 ;;
  esac
  exit 0
fi

# --- the training stage (separate so its steps share one log): prep, train, scrape, resume ----
if [ "${1:-}" = __train ]; then
  dir=$2
  run=$WORK/run
  bin=$BUILD/bin
  note() { echo "$*" >"$dir/result"; }
  rm -rf "$run" && mkdir -p "$run"
  if [ "$CHECK_MODE" = device ]; then
    dev=cuda comm=nccl batch=64 steps=300 ckpt=100 eval=150 model=(6 384 12 1536) port=19400
  else
    dev=cpu comm=mpi batch=16 steps=30 ckpt=10 eval=15 model=(2 64 4 128) port=19400
  fi
  # One rank, but through the multi-rank paths (gradient buckets from backward hooks, autograd
  # all-gather): on the GPU that is the NCCL bucket path a one-GPU machine would otherwise skip.
  export SIMCSEPP_FORCE_COLLECTIVES=1
  resume_at=$((steps - ckpt))
  # A random encoder made here: the pretrained MiniLM (90 MB) does not fit the 64 MiB carry.
  python3 - "$run/init" "$data/vocab.txt" "${model[@]}" <<'EOF'
import shutil, sys, torch
from transformers import BertConfig, BertModel
out, vocab, layers, hidden, heads, inter = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
torch.manual_seed(0)
cfg = BertConfig(vocab_size=30522, num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads,
                 intermediate_size=inter, max_position_embeddings=512)
BertModel(cfg).save_pretrained(out)
shutil.copy(vocab, out + "/vocab.txt")
print(f"random BERT {layers} x {hidden} saved in {out}")
EOF
  "$bin/simcsepp" prep --input "$data"/corpus/*.txt --output "$run/corpus" --vocab "$data/vocab.txt" --max-len 32
  common=(--model "$run/init" --corpus "$run/corpus" --objective simcse++ --batch-size "$batch" --max-len 32
    --max-steps "$steps" --eval-every "$eval" --checkpoint-every "$ckpt" --keep-checkpoints 10
    --sts-dev "$data/sts-dev.csv" --device "$dev" --comm "$comm" --log-every 50)
  # Scrape /metrics once a second while training runs; keep the newest scrape past step 0.
  touch "$run/scraping"
  python3 - "$port" "$dir/metrics_scrape.txt" "$run/scraping" <<'EOF' &
import os, re, sys, time, urllib.request
port, dest, flag = sys.argv[1:]
while os.path.exists(flag):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
        m = re.search(r"^simcsepp_global_step\{[^}]*\} (\S+)", text, re.M)
        if m and float(m.group(1)) > 0:
            open(dest + ".tmp", "w").write(text)
            os.replace(dest + ".tmp", dest)
    except Exception:
        pass
    time.sleep(1)
EOF
  scraper=$!
  set +e
  mpirun -np 1 --bind-to none "$bin/simcsepp" train "${common[@]}" --run-dir "$run/a" --metrics-port "$port" 2>&1 | tee "$dir/train_a.log"
  rc_a=${PIPESTATUS[0]}
  rm -f "$run/scraping"
  wait "$scraper"
  ckfile=$run/a/checkpoints/$(printf 'step-%08d.ckpt' "$resume_at")
  rc_b=1
  if [ -f "$ckfile" ]; then
    # A checkpoint resumes only in its own run directory (docs/training.md): retrain the steps
    # after it in run a, then split a's metrics.jsonl back into the first run's lines (a) and the
    # resumed run's (b), as the judge reads them.
    first_lines=$(wc -l <"$run/a/metrics.jsonl")
    mpirun -np 1 --bind-to none "$bin/simcsepp" train "${common[@]}" --run-dir "$run/a" --resume "$ckfile" \
      --no-export --metrics-port $((port + 10)) 2>&1 | tee "$dir/train_b.log"
    rc_b=${PIPESTATUS[0]}
    mkdir -p "$run/b"
    tail -n +$((first_lines + 1)) "$run/a/metrics.jsonl" >"$run/b/metrics.jsonl"
    head -n "$first_lines" "$run/a/metrics.jsonl" >"$run/a/metrics.first" && mv "$run/a/metrics.first" "$run/a/metrics.jsonl"
  fi
  set -e
  cp "$run/a/metrics.jsonl" "$dir/metrics_a.jsonl" 2>/dev/null || true
  cp "$run/b/metrics.jsonl" "$dir/metrics_b.jsonl" 2>/dev/null || true
  # Judge: finite losses, STS-B dev before/after, export loads in transformers, /metrics values,
  # resume continuation (see docs/gpu.md for what "continue" means on a GPU).
  python3 - "$run" "$dir" "$CHECK_MODE" "$steps" "$resume_at" "$rc_a" "$rc_b" <<'EOF'
import json, math, os, re, statistics, sys
run, out, mode, steps, resume_at, rc_a, rc_b = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:])
checks, notes = [], []
def check(name, ok, value):
    checks.append((name, bool(ok), value))
def lines(path):
    return [json.loads(l) for l in open(path)] if os.path.exists(path) else []
a, b = lines(f"{run}/a/metrics.jsonl"), lines(f"{run}/b/metrics.jsonl")
check("run exited 0", rc_a == 0, f"exit {rc_a}")
log_a = open(f"{out}/train_a.log", errors="replace").read() if os.path.exists(f"{out}/train_a.log") else ""
check("multi-rank paths forced (buckets, all-gather)", "SIMCSEPP_FORCE_COLLECTIVES=1 (test-only)" in log_a,
      "log line seen" if "SIMCSEPP_FORCE_COLLECTIVES=1" in log_a else "log line missing")
loss_a = {r["step"]: r["loss"] for r in a if r.get("kind") == "step"}
finite = [v for v in loss_a.values() if isinstance(v, (int, float)) and math.isfinite(v)]
check(f"{steps} steps, all losses finite", len(loss_a) == steps and len(finite) == len(loss_a),
      f"{len(finite)}/{len(loss_a)} finite; first {loss_a.get(1, float('nan')):.4f}, last {loss_a.get(steps, float('nan')):.4f}")
step_s = [r["step_s"] for r in a if r.get("kind") == "step" and r.get("step", 0) > 10]
if step_s:
    notes.append(f"median step {1000 * statistics.median(step_s):.1f} ms")
ev = [r for r in a if r.get("kind") == "eval"]
before = next((round(r["sts_dev_spearman_x100"], 2) for r in ev if r.get("initial")), None)
after = round(ev[-1]["sts_dev_spearman_x100"], 2) if ev and not ev[-1].get("initial") else None
check("STS-B dev before and after", before is not None and after is not None and math.isfinite(after),
      f"Spearman x100 {before} -> {after} (random init)")
cfg = f"{run}/a/model/config.json"
try:
    from transformers import AutoModel
    _, info = AutoModel.from_pretrained(f"{run}/a/model", output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    check("export loads in transformers", not bad, "no missing/unexpected keys" if not bad else str(bad))
except Exception as e:
    check("export loads in transformers", False, f"{type(e).__name__}: {e}"[:120])
# Prometheus scrape taken during run a.
scrape = f"{out}/metrics_scrape.txt"
text = open(scrape).read() if os.path.exists(scrape) else ""
def metric(name):
    m = re.search(rf"^{name}(?:\{{[^}}]*\}})? (\S+)", text, re.M)
    return float(m.group(1)) if m else None
used, reserved, mfu = (metric(n) for n in ("simcsepp_gpu_memory_used_bytes", "simcsepp_gpu_memory_reserved_bytes",
                                             "simcsepp_model_flops_utilization_ratio"))
vals = f"used {used}, reserved {reserved}, MFU {mfu}"
if mode == "device":
    check("/metrics: GPU memory used/reserved and MFU real", bool(text) and all(
        v is not None and math.isfinite(v) and v > 0 for v in (used, reserved, mfu)) and mfu < 1 and used <= reserved, vals)
else:
    check("/metrics scraped during the run (no GPU: memory/MFU not judged)", bool(text), vals)
# Resume: same weights, data order and RNG state as run a after step resume_at.
loss_b = {r["step"]: r["loss"] for r in b if r.get("kind") == "step"}
check("resumed run exited 0", rc_b == 0, f"exit {rc_b}")
common = sorted(set(loss_a) & set(loss_b))
if common and min(loss_b) == resume_at + 1:
    first = common[0]
    rel = [abs(loss_b[s] - loss_a[s]) / max(abs(loss_a[s]), 1e-12) for s in common]
    med = statistics.median(rel)
    gap_fresh = abs(loss_a[1] - loss_a[first]) / max(abs(loss_a[first]), 1e-12)
    ok = rel[0] <= 1e-3 and med <= 5e-2 and len(common) == steps - resume_at
    check(f"resume continues from step {resume_at}", ok,
          f"step {first}: {loss_b[first]:.5f} vs {loss_a[first]:.5f} (rel {rel[0]:.1e}); median rel over "
          f"{len(common)} steps {med:.1e}, max {max(rel):.1e}; fresh-start gap {gap_fresh:.1e}")
else:
    check(f"resume continues from step {resume_at}", False,
          f"resumed steps {min(loss_b) if loss_b else None}..{max(loss_b) if loss_b else None}")
with open(f"{out}/detail.md", "w") as f:
    for name, ok, value in checks:
        f.write(f"    - {'ok  ' if ok else 'FAIL'} {name}: {value}\n")
    if notes:
        f.write("    - " + "; ".join(notes) + "\n")
for name, ok, value in checks:
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {value}")
failed = [n for n, ok, _ in checks if not ok]
open(f"{out}/result", "w").write((f"{len(checks) - len(failed)}/{len(checks)} ok" + (f"; failed: {', '.join(failed)}" if failed else "")
                                  + f"; STS-B dev {before} -> {after}; {vals}\n"))
sys.exit(1 if failed else 0)
EOF
  exit $?
fi

# --- the driver -------------------------------------------------------------------------------
export CHECK_MODE=$mode
export BUILD=${SIMCSEPP_BUILD_DIR:-$root/$([ "$mode" = device ] && echo build-device || echo build)}
export WORK=${SIMCSEPP_CHECK_WORK:-/tmp/simcsepp-device-check}
out=${OUT:-$root/build-device-out}
budget=${SIMCSEPP_CHECK_BUDGET_S:-470}
t0=$(date +%s)
deadline=$((t0 + budget))
rm -rf "$WORK" && mkdir -p "$WORK" "$out"
exec > >(tee "$WORK/console.log") 2>&1
if [ "$mode" = device ]; then
  [ -d "$data" ] || die ".device-data/ not here" "here: bash scripts/device-check.sh prepare, then carry .device-data (and .device-deps)"
  command -v nvidia-smi >/dev/null && nvidia-smi -L | grep -q GPU \
    || echo "device-check: WARNING: nvidia-smi sees no GPU; GPU stages will fail (use --dry-run on a CPU machine)"
else
  [ -d "$data" ] || bash "$0" prepare
fi

# Machine facts for the summary header (each may be missing; never fatal).
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1 || true)
facts=$(python3 -c '
import torch
nccl = ".".join(map(str, torch.cuda.nccl.version())) if torch.version.cuda else None
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, NCCL of torch {nccl}, GPUs seen by torch {torch.cuda.device_count()}")' 2>/dev/null || echo "torch: not importable")
nvcc=$( (/usr/local/cuda/bin/nvcc --version 2>/dev/null || true) | sed -n 's/.*release \([0-9.]*\).*/\1/p')
rows=$WORK/rows.tsv
: >"$rows"

write_summary() {
  {
    echo "# simcsepp device check ($mode)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); host $(hostname); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "- GPU: ${gpu:-none seen} (name, driver, memory)"
    echo "- $facts; nvcc ${nvcc:-none}"
    echo "- linked NCCL: $(sed -n 's/^  NCCL  *//p' "$WORK/inspect/inspect.txt" 2>/dev/null | head -1)"
    echo
    echo "| stage | status | s | result |"
    echo "|---|---|---|---|"
    while IFS=$'\t' read -r s st secs res; do echo "| $s | $st | $secs | $res |"; done <"$rows"
    echo
    echo "total $(($(date +%s) - t0)) s of a $budget s budget"
  } >"$WORK/summary.md"
  {
    cat "$WORK/summary.md"
    for s in build inspect parity attention train bench nccl_tests; do
      [ -f "$WORK/$s/detail.md" ] && { echo; echo "## $s"; echo; cat "$WORK/$s/detail.md"; }
    done
  } >"$out/summary.md"
  tar -czf "$out/stages.tar.gz.tmp" -C "$WORK" --exclude=./run --exclude=./deps . 2>/dev/null || true
  mv -f "$out/stages.tar.gz.tmp" "$out/stages.tar.gz"
}

stage() {  # stage NAME TIMEOUT_S
  local name=$1 limit=$2 left start rc status result
  mkdir -p "$WORK/$name"
  if [ -n "${SIMCSEPP_CHECK_STAGES:-}" ] && [[ " $SIMCSEPP_CHECK_STAGES " != *" $name "* ]]; then
    printf '%s\tnot run\t0\tnot selected (SIMCSEPP_CHECK_STAGES)\n' "$name" >>"$rows"
    write_summary
    return
  fi
  left=$((deadline - $(date +%s)))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 15 ]; then
    printf '%s\tnot run\t0\tout of time (budget %s s)\n' "$name" "$budget" >>"$rows"
    write_summary
    return
  fi
  echo "=== device-check: $name (up to ${limit} s)"
  start=$(date +%s)
  set +e
  timeout -k 10 "$limit" bash "$0" __stage "$name" >"$WORK/$name/log" 2>&1
  rc=$?
  set -e
  tail -n 5 "$WORK/$name/log" | sed 's/^/    /'
  result=$(head -c 300 "$WORK/$name/result" 2>/dev/null | tr '\n\t|' '  /' | sed 's/ *$//' || true)
  case $rc in
    0) status=pass ;;
    3) status="not run" ;;
    124 | 137) status=fail result="timeout after ${limit} s; ${result}" ;;
    *) status=fail result="exit $rc; ${result:-see $name/log}" ;;
  esac
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(($(date +%s) - start))" "$result" >>"$rows"
  write_summary
}

stage build 300
stage inspect 20
stage parity 90
stage attention 30
stage graph 60
stage train 150
stage bench 150
stage variants 100
stage nccl_tests 40
echo
cat "$WORK/summary.md"
echo "(details: $out/summary.md; logs: $out/stages.tar.gz)"
! grep -q $'\tfail\t' "$rows"
