#!/usr/bin/env bash
# demo.sh - the main job end to end on the bundled default data, from a fresh machine:
#   set-up (packages, venv, build) -> pretrained checkpoint -> `simcsepp prep` of
#   ../shared/data/corpus into HDF5 shards -> STS-B dev before -> `simcsepp train` with 2 MPI
#   ranks (GPUs when present, else CPU), objective simcse++ -> export of the best model ->
#   STS evaluation after -> where everything went (ending with the run report, report.html).
# Knobs (environment): SIMCSEPP_DEMO_STEPS (default 200), SIMCSEPP_DEMO_BATCH (per rank, default
# 16 on CPU, 64 on GPU), SIMCSEPP_RUN_DIR (default runs/demo-<time>).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
bash scripts/build.sh
bin=${SIMCSEPP_BUILD_DIR:-$root/build}/bin/simcsepp
data=$root/../shared/data
[ -d "$data/corpus" ] || { echo "demo: $data/corpus not found (the shared data sets sit beside the repo)" >&2; exit 1; }

model=$(bash scripts/get_pretrained.sh)
run=${SIMCSEPP_RUN_DIR:-$root/runs/demo-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$run"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
gpus=$(command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | wc -l || echo 0)
batch=${SIMCSEPP_DEMO_BATCH:-$([ "$gpus" -ge 1 ] && echo 64 || echo 16)}
steps=${SIMCSEPP_DEMO_STEPS:-200}

echo "== 1/5 prep: ../shared/data/corpus/*.txt -> $run/corpus"
"$bin" prep --input "$data"/corpus/*.txt --output "$run/corpus" --vocab "$model/vocab.txt" --max-len 32

echo "== 2/5 STS before training (pretrained checkpoint $model)"
"$bin" eval --model "$model" --senteval-data "$data/sts" --tasks STS12,STSBenchmark,SICKRelatedness \
  --output "$run/sts_before.json"

echo "== 3/5 train: simcsepp++ with 2 MPI ranks, batch $batch per rank, $steps steps"
mpirun -np 2 --oversubscribe --bind-to none "$bin" train --model "$model" --corpus "$run/corpus" \
  --run-dir "$run" --objective simcse++ --batch-size "$batch" --max-steps "$steps" --eval-every 50 \
  --sts-dev "$data/sts/STSBenchmark/sts-dev.csv" 2>&1 | tee "$run/train.log"

echo "== 4/5 STS after training (best checkpoint, exported to $run/model)"
"$bin" eval --model "$run/model" --senteval-data "$data/sts" --tasks STS12,STSBenchmark,SICKRelatedness \
  --output "$run/sts_after.json"

echo "== 5/5 outputs"
echo "  model (Hugging Face + sentence-transformers): $run/model"
echo "  training log: $run/train.log    metrics (JSONL): $run/metrics.jsonl"
echo "  checkpoints: $run/checkpoints    STS results: $run/sts_before.json, $run/sts_after.json"
echo "  Prometheus targets (file_sd): $run/prometheus_targets.json"
echo "  report (charts, summary, config; open in a browser): $run/report.html"
