#!/usr/bin/env bash
# bench_corpus_scale.sh - issue 15's scale benchmark: a synthetic corpus of N sentences (default
# 50M: 5.6 GB of text), prepared with 1 and 2 processes (and --dedup with 2), then one epoch
# of the streaming reader at window sizes 2/8/32 (1 rank) and on 1/2/3 ranks (window 8).
# Prints bench_prep.py's table and one JSON line of bench_reader_io per reader run; the numbers
# go to docs/data.md. A benchmark, not a test: it took 8 minutes on the 2-core CPU machine
# (2026-12-03) and needs the text + 2 x the prepared corpus of free disk in WORK_DIR (~13 GB at 50M).
# usage: bench/bench_corpus_scale.sh BUILD_DIR WORK_DIR [SENTENCES] [SHARED_DATA]
set -euo pipefail
build=$1 work=$2 n=${3:-50000000}
here=$(cd "$(dirname "$0")" && pwd)
data=${4:-$here/../../shared/data}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$work"
echo "# $(date -u '+%F %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$here/bench_prep.py" "$build" "$work" "$data" --sentences "$n" --processes 1,2 --dedup no --keep
rm -rf "$work/out-2-0"  # the same rows as out-1-0 (tests/data prove it); kept: out-1-0 for the reader
python3 "$here/bench_prep.py" "$build" "$work" "$data" --sentences "$n" --processes 2 --dedup yes
corpus=$work/out-1-0
echo "# prepared corpus: $(du -sb "$corpus" | cut -f1) bytes in $(ls "$corpus" | grep -c '\.h5$') shard files"
# Shuffle quality over the first 20,000 steps only: the record of all rows would add 4 bytes
# per row to the peak RSS being measured.
for w in 2 8 32; do
  mpirun --oversubscribe --bind-to none -np 1 "$build/bin/bench_reader_io" "$corpus" 64 "$w" 0 20000
done
for np in 2 3; do
  mpirun --oversubscribe --bind-to none -np "$np" "$build/bin/bench_reader_io" "$corpus" 64 8 0 20000
done
echo "# done $(date -u '+%F %H:%M UTC')"
