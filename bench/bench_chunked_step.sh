#!/usr/bin/env bash
# bench_chunked_step.sh - peak memory and update time of gradient caching (--chunk-size) against
# the unchunked update over per-rank batches; prints the markdown table of docs/training.md.
# One process per configuration (peak RSS only grows). Not a test.
#   bash bench/bench_chunked_step.sh [build/bin] [max unchunked batch, default 1024]
# Environment: LAYERS HIDDEN LEN CHUNK BATCHES OBJECTIVE THREADS DEVICE STEPS.
set -euo pipefail
bin=${1:-build/bin}
max_plain=${2:-1024}
layers=${LAYERS:-2} hidden=${HIDDEN:-128} len=${LEN:-32} chunk=${CHUNK:-64} steps=${STEPS:-2}
objective=${OBJECTIVE:-simcse++} threads=${THREADS:-1} device=${DEVICE:-cpu}
batches=${BATCHES:-64 128 256 512 1024 2048 4096}
run() {  # batch chunk -> "ms rss_mib device_mib"
  "$bin/bench_chunked_step" --batch "$1" --chunk "$2" --objective "$objective" --layers "$layers" \
    --hidden "$hidden" --len "$len" --steps "$steps" --warmup 1 --threads "$threads" --device "$device" |
    sed -E 's/.*: ([0-9.]+) ms\/update, peak RSS ([0-9]+) MiB, peak device allocated ([0-9]+) MiB.*/\1 \2 \3/'
}
echo "$objective, $layers layers, hidden $hidden, len $len, $device, $threads thread(s), chunk $chunk"
echo
echo "| per-rank batch | unchunked ms/update | unchunked peak RSS MiB | chunked ms/update | chunked peak RSS MiB | time chunked/unchunked |"
echo "|---|---|---|---|---|---|"
for b in $batches; do
  read -r cms crss _ < <(run "$b" "$chunk")
  if [ "$b" -le "$max_plain" ]; then
    read -r pms prss _ < <(run "$b" 0)
    ratio=$(awk -v c="$cms" -v p="$pms" 'BEGIN { printf "%.2f", c / p }')
  else
    pms="-" prss="-" ratio="-"
  fi
  echo "| $b | $pms | $prss | $cms | $crss | $ratio |"
done
