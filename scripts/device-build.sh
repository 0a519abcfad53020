#!/usr/bin/env bash
# device-build.sh - configure and build simcsepp on the GPU machine (Ubuntu 24.04, preinstalled
# torch 2.11.0+cu130, nvcc 13, NCCL, Open MPI, serial HDF5; no package access).
#
#   bash scripts/device-build.sh [--check-only]
#
# What the machine lacks (Boost.Program_options, prometheus-cpp with civetweb, utf8proc,
# nlohmann-json, zlib headers; libcurl because prometheus-cpp's CMake config asks for it) is
# carried as Debian packages: here, once, run
# `../shared/tools/device-deps.sh fetch` in the repo root (creates .device-deps/, git-ignored) and
# name .device-deps in the device run's carry list. Every check below fails with exit 1, the reason
# and a HINT, before cmake runs: a missing dependency never surfaces later as a cmake puzzle.
# OpenSSL's libcrypto (SHA-256) is taken from the machine (libssl-dev) when its headers are
# there, else from a libssl-dev carried in the same folder; neither fails naming both.
#
# NCCL is picked explicitly: torch's own copy (site-packages/nvidia/nccl) when present, else the
# CUDA toolkit's ($SIMCSEPP_NCCL_ROOT overrides). One libnccl.so.2 serves simcsepp and
# libtorch_cuda in a process, so one older than the NCCL libtorch_cuda was built with is refused.
#
# Environment: SIMCSEPP_BUILD_DIR (build-device/), SIMCSEPP_BUILD_TARGETS (default: all) and
# SIMCSEPP_BUILD_TARGETS_MATCH (an extended regex over the target names, added when defined),
# SIMCSEPP_DEVICE_DEPS (.device-deps), DEPS_PREFIX (/opt/simcsepp-deps), SIMCSEPP_PYTHON
# (python3), CUDA_HOME (/usr/local/cuda), SIMCSEPP_NCCL_ROOT, OUT (logs; else build-device-out/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
check_only=0
[ "${1:-}" = --check-only ] && check_only=1
out=${OUT:-$root/build-device-out}
mkdir -p "$out"
build=${SIMCSEPP_BUILD_DIR:-$root/build-device}
deps=${SIMCSEPP_DEVICE_DEPS:-$root/.device-deps}
prefix=${DEPS_PREFIX:-/opt/simcsepp-deps}
cuda=${CUDA_HOME:-/usr/local/cuda}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

die() {
  echo "device-build: ERROR: $1" >&2
  [ -z "${2:-}" ] || echo "device-build: HINT: $2" >&2
  exit 1
}
say() { echo "device-build: $*"; }

# --- carried packages ------------------------------------------------------------------------
fetch_hint="here, in the repo root: ../shared/tools/device-deps.sh fetch (creates .device-deps/), then name .device-deps in the device run's carry list"
[ -d "$deps" ] || die "$deps is missing: Boost.Program_options, prometheus-cpp, civetweb, utf8proc and nlohmann-json are not on the GPU machine" "$fetch_hint"
[ -f "$deps/extract.sh" ] || die "$deps/extract.sh is missing (an older carrier did not copy itself)" "re-run: $fetch_hint"
# What the build needs, plus every package the carrier itself lists: a partial fetch fails here.
needed="libboost-program-options-dev libboost-program-options1.74-dev libboost-program-options1.74.0
libboost1.74-dev libcivetweb-dev libcivetweb1 libutf8proc-dev libutf8proc2 nlohmann-json3-dev zlib1g-dev
prometheus-cpp-dev libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libcurl4-openssl-dev libcurl4"
carried=$(sed -n '/^PKGS="/,/"/p' "$deps/extract.sh" | sed -e 's/^PKGS=//' -e 's/"//g')
missing=""
for p in $(printf '%s\n' $needed $carried | sort -u); do
  ls "$deps/${p}_"*.deb >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] || die "packages missing from $deps:$missing" "re-run: $fetch_hint"

if ! env_lines=$(DEPS_PREFIX="$prefix" bash "$deps/extract.sh" 2>"$tmp/extract.err"); then
  cat "$tmp/extract.err" >&2
  die "bash $deps/extract.sh failed (unpacking into $prefix)" "is $prefix writable (DEPS_PREFIX=... to move it) and are the .deb files whole (re-fetch)?"
fi
case "$env_lines" in
  *"CMAKE_PREFIX_PATH=$prefix"*) ;;
  *) die "extract.sh printed no CMAKE_PREFIX_PATH for $prefix: $env_lines" "re-run: $fetch_hint" ;;
esac
eval "$env_lines"
libdir=$prefix/usr/lib/x86_64-linux-gnu
# zlib1g-dev's libz.so points at Debian's /lib/x86_64-linux-gnu/libz.so.1.2.13; link the machine's own.
if [ ! -e "$libdir/libz.so" ]; then
  sys_z=$(ls /lib/x86_64-linux-gnu/libz.so.1 /usr/lib/x86_64-linux-gnu/libz.so.1 2>/dev/null | head -1 || true)
  [ -n "$sys_z" ] || die "no libz.so.1 on this machine" "install zlib1g or carry it in .device-deps"
  ln -sfn "$sys_z" "$libdir/libz.so"
fi
for f in include/boost/program_options.hpp include/civetweb.h include/CivetServer.h include/utf8proc.h \
  include/nlohmann/json.hpp include/zlib.h include/prometheus/exposer.h include/curl/curl.h \
  lib/x86_64-linux-gnu/libboost_program_options.so lib/x86_64-linux-gnu/libcivetweb.so \
  lib/x86_64-linux-gnu/libcivetweb-cpp.so lib/x86_64-linux-gnu/libprometheus-cpp-core.so \
  lib/x86_64-linux-gnu/libprometheus-cpp-pull.so lib/x86_64-linux-gnu/cmake/prometheus-cpp/prometheus-cpp-config.cmake \
  lib/x86_64-linux-gnu/cmake/civetweb/civetweb-config.cmake lib/x86_64-linux-gnu/libutf8proc.so \
  lib/x86_64-linux-gnu/libz.so; do
  [ -e "$prefix/usr/$f" ] || die "$prefix/usr/$f missing after extracting $deps" "re-run: $fetch_hint"
done
say "carried packages unpacked into $prefix"

# --- OpenSSL libcrypto (SHA-256): the machine's libssl-dev, else one carried in $deps ---------
openssl_root=""
sys_crypto=$(ls /usr/lib/x86_64-linux-gnu/libcrypto.so.3 /lib/x86_64-linux-gnu/libcrypto.so.3 2>/dev/null | head -1 || true)
if [ -f /usr/include/openssl/evp.h ] && [ -e /usr/lib/x86_64-linux-gnu/libcrypto.so ]; then
  openssl_source="the machine (/usr/include/openssl, /usr/lib/x86_64-linux-gnu/libcrypto.so)"
elif [ -f "$prefix/usr/include/openssl/evp.h" ]; then
  # Debian's libssl-dev: its libcrypto.so points at a libcrypto.so.3 it does not carry; link the
  # machine's own (OpenSSL 3 keeps its ABI within 3.x).
  [ -n "$sys_crypto" ] || die "OpenSSL headers are carried in $deps but this machine has no libcrypto.so.3" \
    "install libssl3 (or libssl3t64) on the machine, or carry libssl3 next to libssl-dev in $deps"
  ln -sfn "$sys_crypto" "$libdir/libcrypto.so"
  openssl_root=$prefix/usr
  openssl_source="$deps (libssl-dev headers) + $sys_crypto"
else
  die "OpenSSL's libcrypto headers (openssl/evp.h) are neither on this machine (/usr/include) nor in $deps: SHA-256 checksums need them" \
    "here, in the repo root: (cd .device-deps && apt-get download libssl-dev), then carry .device-deps again; or install libssl-dev on the machine"
fi
[ -f "${openssl_root:-/usr}/include/openssl/opensslv.h" ] || die "${openssl_root:-/usr}/include/openssl/opensslv.h missing: incomplete OpenSSL headers" \
  "re-fetch libssl-dev into $deps, or reinstall libssl-dev on the machine"
grep -q '# *define OPENSSL_VERSION_MAJOR *3' "${openssl_root:-/usr}/include/openssl/opensslv.h" \
  || die "the OpenSSL headers in ${openssl_root:-/usr}/include are not OpenSSL 3" "carry Debian 12's libssl-dev (OpenSSL 3.0) in $deps"
say "OpenSSL libcrypto from $openssl_source"

# --- machine: toolkit, torch, MPI, HDF5 ------------------------------------------------------
[ -x "$cuda/bin/nvcc" ] || die "no nvcc at $cuda/bin/nvcc: this would build without CUDA/NCCL" "set CUDA_HOME to the toolkit"
py=${SIMCSEPP_PYTHON:-$(command -v python3 || true)}
[ -n "$py" ] || die "no python3" "the GPU machine's python3 holds torch; set SIMCSEPP_PYTHON"
"$py" - >"$tmp/torch.txt" 2>"$tmp/torch.err" <<'EOF' || { cat "$tmp/torch.err" >&2; die "$py cannot report torch's CUDA/NCCL build" "SIMCSEPP_PYTHON must name a python with a CUDA torch"; }
import os, torch
assert torch.version.cuda, "torch %s is a CPU-only build" % torch.__version__
print(torch.utils.cmake_prefix_path)
print(os.path.join(os.path.dirname(os.path.dirname(torch.__file__)), "nvidia", "nccl"))
print(".".join(map(str, torch.cuda.nccl.version())))
print(torch.__version__)
EOF
{ read -r torch_prefix; read -r wheel_nccl; read -r torch_nccl; read -r torch_version; } <"$tmp/torch.txt"

command -v mpicc >/dev/null || die "mpicc not found: MPI development files are missing" "install libopenmpi-dev (Open MPI) or put its bin/ on PATH"
printf '#include <mpi.h>\nint main(void) { return MPI_Init(0, 0); }\n' >"$tmp/mpi.c"
mpicc "$tmp/mpi.c" -o "$tmp/mpi" 2>"$tmp/mpi.err" || { cat "$tmp/mpi.err" >&2; die "mpicc cannot compile and link against mpi.h" "install libopenmpi-dev"; }
hdf5_h=""
for d in ${HDF5_ROOT:+$HDF5_ROOT/include} /usr/include/hdf5/serial /usr/include; do
  [ -f "$d/hdf5.h" ] && { hdf5_h=$d/hdf5.h; break; }
done
hdf5_so=$(ls ${HDF5_ROOT:+$HDF5_ROOT/lib/libhdf5.so} /usr/lib/x86_64-linux-gnu/hdf5/serial/libhdf5.so \
  /usr/lib/x86_64-linux-gnu/libhdf5_serial.so /usr/lib/x86_64-linux-gnu/libhdf5.so 2>/dev/null | head -1 || true)
[ -n "$hdf5_h" ] && [ -n "$hdf5_so" ] || die "HDF5 development files missing (hdf5.h: ${hdf5_h:-none}, libhdf5.so: ${hdf5_so:-none})" \
  "install libhdf5-dev (serial), or set HDF5_ROOT to a prefix with include/hdf5.h and lib/libhdf5.so"
say "MPI $(command -v mpicc), HDF5 $hdf5_h + $hdf5_so, torch $torch_version ($torch_prefix)"

# --- NCCL: explicit choice and version check -------------------------------------------------
nccl_lib_in() {  # prints <prefix>'s libnccl.so[.2] if it also has include/nccl.h
  local r=$1 d n
  [ -f "$r/include/nccl.h" ] || return 1
  for d in lib lib64 lib/x86_64-linux-gnu; do
    for n in libnccl.so libnccl.so.2; do
      [ -e "$r/$d/$n" ] && { echo "$r/$d/$n"; return 0; }
    done
  done
  return 1
}
if [ -n "${SIMCSEPP_NCCL_ROOT:-}" ]; then
  nccl_root=$SIMCSEPP_NCCL_ROOT nccl_source="SIMCSEPP_NCCL_ROOT"
  nccl_lib=$(nccl_lib_in "$nccl_root") || die "SIMCSEPP_NCCL_ROOT=$nccl_root has no include/nccl.h + lib/libnccl.so[.2]" "unset it to use torch's or the toolkit's"
elif nccl_lib=$(nccl_lib_in "$wheel_nccl"); then
  nccl_root=$wheel_nccl nccl_source="torch wheel"
elif nccl_lib=$(nccl_lib_in "$cuda"); then
  nccl_root=$cuda nccl_source="CUDA toolkit"
else
  die "no NCCL: neither $wheel_nccl nor $cuda has include/nccl.h and libnccl.so" "pip's nvidia-nccl-cu13 (torch's) or the toolkit's NCCL; or SIMCSEPP_NCCL_ROOT=<prefix>"
fi
cc -o "$tmp/nccl_probe" cmake/nccl_version_probe.c "$nccl_lib" -Wl,-rpath,"$(dirname "$nccl_lib")" 2>"$tmp/probe.err" \
  || { cat "$tmp/probe.err" >&2; die "cannot link a probe against $nccl_lib" "the library is broken or not for this machine; set SIMCSEPP_NCCL_ROOT"; }
code=$("$tmp/nccl_probe") || die "ncclGetVersion failed in $nccl_lib" "set SIMCSEPP_NCCL_ROOT to another NCCL"
nccl_version=$((code / 10000)).$((code % 10000 / 100)).$((code % 100))
if [ "$(printf '%s\n%s\n' "$torch_nccl" "$nccl_version" | sort -V | head -1)" != "$torch_nccl" ]; then
  die "NCCL $nccl_version ($nccl_source: $nccl_lib) is older than NCCL $torch_nccl, which libtorch_cuda was built with; one libnccl.so.2 serves both in a process, so torch would run on the older one" \
    "SIMCSEPP_NCCL_ROOT=$wheel_nccl (torch's own copy) or a newer NCCL"
fi
say "NCCL $nccl_version from $nccl_source ($nccl_lib); libtorch_cuda built with NCCL $torch_nccl"
if [ "$check_only" = 1 ]; then
  say "checks passed (--check-only: not configuring)"
  exit 0
fi

# --- configure and build ---------------------------------------------------------------------
start=$(date +%s)
generator=$(command -v ninja >/dev/null && echo Ninja || echo 'Unix Makefiles')
cmake -S . -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$torch_prefix" \
  -DSIMCSEPP_PYTHON="$py" -DSIMCSEPP_NCCL_ROOT="$nccl_root" -DCMAKE_CUDA_COMPILER="$cuda/bin/nvcc" \
  -DSIMCSEPP_WITH_PROMETHEUS_CPP=ON ${openssl_root:+-DOPENSSL_ROOT_DIR="$openssl_root"} \
  2>&1 | tee "$out/configure.log"
# The build would otherwise go on without /metrics (CMake only warns): here that is a failure.
grep -q "simcsepp: prometheus-cpp .* serves /metrics" "$out/configure.log" \
  || die "CMake did not find prometheus-cpp in $prefix (see $out/configure.log): /metrics would be disabled" \
    "check that $prefix/usr/lib/x86_64-linux-gnu/cmake/prometheus-cpp and .../cmake/civetweb exist; re-run: $fetch_hint"
configured=$(date +%s)
targets=()
for t in ${SIMCSEPP_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
# Targets named by a pattern, when this tree defines them (device-check.sh: NCCL GoogleTests).
if [ -n "${SIMCSEPP_BUILD_TARGETS_MATCH:-}" ] && [ -f "$build/build.ninja" ]; then
  for t in $(ninja -C "$build" -t targets all | sed -n 's/^\([A-Za-z0-9_]*\): phony$/\1/p' | grep -E "$SIMCSEPP_BUILD_TARGETS_MATCH" || true); do
    say "also building $t (matches $SIMCSEPP_BUILD_TARGETS_MATCH)"
    targets+=(--target "$t")
  done
fi
cmake --build "$build" -j "$(nproc)" "${targets[@]}" 2>&1 | tee "$out/build.log"
end=$(date +%s)
say "configured in $((configured - start)) s, built ${SIMCSEPP_BUILD_TARGETS:-all} in $((end - configured)) s" | tee -a "$out/build.log"
"$build/bin/simcsepp" inspect | tee "$out/inspect.txt"
