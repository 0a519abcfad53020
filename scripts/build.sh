#!/usr/bin/env bash
# build.sh - configure and build simcsepp into build/ (or $SIMCSEPP_BUILD_DIR) after setup.sh.
# Incremental: re-running only rebuilds what changed (ccache + one libtorch precompiled header).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SIMCSEPP_BUILD_DIR:-$root/build}
export SIMCSEPP_VENV=${SIMCSEPP_VENV:-/opt/simcsepp-venv}
export CCACHE_DIR=${CCACHE_DIR:-/var/cache/simcsepp-ccache}
# Paths relative to the checkout, so a fresh clone elsewhere (CI) hits the same cache entries.
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true
jobs=${SIMCSEPP_JOBS:-$(nproc)}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
fi
cmake --build "$build" -j "$jobs"
