#!/usr/bin/env bash
# build.sh - configure and build simcsepp into build/ (or $SIMCSEPP_BUILD_DIR) after setup.sh.
# Incremental: re-running only rebuilds what changed (ccache + one libtorch precompiled header).
#   SIMCSEPP_CMAKE_ARGS  extra configure options (-DHDF5_ROOT=... -DBoost_ROOT=...), like "$@";
#                        CMAKE_PREFIX_PATH and <Pkg>_ROOT from the environment (module load) work too
#   SIMCSEPP_TARGETS     build only these targets (space-separated), e.g. "simcsepp test_base"
# Mode as in setup.sh (root: system, else user; SIMCSEPP_SETUP_MODE=user|system): in user mode the
# venv defaults to the user's own and ccache to ~/.cache unless /var/cache's is writable.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SIMCSEPP_BUILD_DIR:-$root/build}
mode=${SIMCSEPP_SETUP_MODE:-}
if [ -z "$mode" ]; then
  if [ "$(id -u)" -eq 0 ]; then mode=system; else mode=user; fi
fi
cmake_args=()
if [ "$mode" = user ]; then
  export SIMCSEPP_VENV=${SIMCSEPP_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/simcsepp-venv}
  if [ ! -x "$SIMCSEPP_VENV/bin/python" ]; then
    echo "[build] ERROR: no venv at $SIMCSEPP_VENV (user mode). HINT: bash scripts/setup.sh --user first, or SIMCSEPP_VENV=<your venv>" >&2
    exit 1
  fi
  # Explicit, so CMake never falls back to another venv (/opt/simcsepp-venv) it may find.
  cmake_args+=("-DSIMCSEPP_PYTHON=$SIMCSEPP_VENV/bin/python")
else
  export SIMCSEPP_VENV=${SIMCSEPP_VENV:-/opt/simcsepp-venv}
fi
if [ -z "${CCACHE_DIR:-}" ]; then
  CCACHE_DIR=/var/cache/simcsepp-ccache
  if ! { [ -w "$CCACHE_DIR" ] || { [ ! -e "$CCACHE_DIR" ] && [ -w /var/cache ]; }; }; then
    CCACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/simcsepp-ccache
  fi
fi
export CCACHE_DIR
# Paths relative to the checkout, so a fresh clone elsewhere (CI) hits the same cache entries.
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true
jobs=${SIMCSEPP_JOBS:-$(nproc)}
if command -v ninja >/dev/null 2>&1; then gen=Ninja genfile=build.ninja; else gen="Unix Makefiles" genfile=Makefile; fi
echo "[build] mode: $mode; venv $SIMCSEPP_VENV; ccache $CCACHE_DIR; $gen in $build"
if [ ! -f "$build/$genfile" ]; then
  # shellcheck disable=SC2086 # SIMCSEPP_CMAKE_ARGS is a list of -D options, split on spaces
  cmake -S "$root" -B "$build" -G "$gen" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cmake_args[@]}" \
    ${SIMCSEPP_CMAKE_ARGS:-} "$@"
fi
targets=()
for t in ${SIMCSEPP_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j "$jobs" "${targets[@]}"
