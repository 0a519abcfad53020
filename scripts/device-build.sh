#!/usr/bin/env bash
# device-build.sh - configure and build simcsepp on the GPU machine (Ubuntu 24.04, preinstalled
# torch 2.11.0+cu130, system Open MPI and HDF5, NCCL; no package access).
#
# What it lacks (Boost.Program_options, civetweb, utf8proc, nlohmann-json) is carried as Debian
# packages: here, once, run `../shared/tools/device-deps.sh fetch` in the repo root (creates
# .device-deps/, git-ignored) and name .device-deps in the device run's carry list. This script
# unpacks them into /opt/simcsepp-deps and builds into build-device/ (or $SIMCSEPP_BUILD_DIR).
# Output (logs) goes to $OUT when set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-$root/build-device-out}
mkdir -p "$out"
if [ -d .device-deps ]; then
  eval "$(bash .device-deps/extract.sh 2>/dev/null || bash ../shared/tools/device-deps.sh extract)"
else
  echo "device-build: .device-deps/ missing - Boost/civetweb/utf8proc must already be installed" >&2
fi
build=${SIMCSEPP_BUILD_DIR:-$root/build-device}
py=$(command -v python3)
torch_prefix=$("$py" -c 'import torch;print(torch.utils.cmake_prefix_path)')

start=$(date +%s)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$torch_prefix" \
  -DSIMCSEPP_PYTHON="$py" -G "$(command -v ninja >/dev/null && echo Ninja || echo 'Unix Makefiles')" \
  2>&1 | tee "$out/configure.log"
cmake --build "$build" -j "$(nproc)" 2>&1 | tee "$out/build.log"
echo "device-build: configured and built in $(( $(date +%s) - start )) s" | tee -a "$out/build.log"
"$build/bin/simcsepp" inspect | tee "$out/inspect.txt"
