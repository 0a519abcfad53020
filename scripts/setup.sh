#!/usr/bin/env bash
# setup.sh - install (system mode) or check (user mode) everything simcsepp needs, idempotently.
#
#   bash scripts/setup.sh            # root: system mode; anyone else: user mode
#   bash scripts/setup.sh --user     # user mode even as root (or SIMCSEPP_SETUP_MODE=user)
#   bash scripts/setup.sh --system   # system mode (needs root)
#
# system: a Debian 12 machine as root. Debian packages with apt-get; the pinned Python packages
#   (torch provides libtorch) into one venv shared by every clone (SIMCSEPP_VENV, default
#   /opt/simcsepp-venv), installed from a local wheelhouse (SIMCSEPP_WHEELHOUSE, default
#   /var/cache/simcsepp-wheelhouse, world-readable) that user mode can install from offline.
# user: any Linux account without root (a cluster login node). Never runs apt-get or sudo: checks
#   the compiler, tools and libraries (the system's, or `module load`/Spack/conda prefixes found
#   through CMAKE_PREFIX_PATH, <Pkg>_ROOT, PATH), names every missing one with its Debian package
#   and a module/Spack/conda hint and exits 1; then creates the user's own venv (SIMCSEPP_VENV,
#   default ${XDG_DATA_HOME:-$HOME/.local/share}/simcsepp-venv) with the same pins, offline from
#   the wheelhouse when one with these pins is readable, else from PyPI. docs/build.md,
#   "Installing without root (clusters)".
# The first line printed says which mode this is. Re-running is cheap: each step checks first.
set -euo pipefail

mode=${SIMCSEPP_SETUP_MODE:-}
for a in "$@"; do
  case $a in
    --user) mode=user ;;
    --system) mode=system ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "[setup] unknown argument '$a' (expected --user, --system or --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$mode" ]; then
  if [ "$(id -u)" -eq 0 ]; then mode=system; else mode=user; fi
fi
case $mode in
  system) echo "[setup] mode: system (root: apt-get + the shared venv; scripts/setup.sh --user checks instead of installing)" ;;
  user) echo "[setup] mode: user (no root: no apt-get, no sudo; checks the system's/modules' tools and libraries, own venv)" ;;
  *) echo "[setup] SIMCSEPP_SETUP_MODE='$mode': expected 'system' or 'user'" >&2; exit 2 ;;
esac

# torch 2.11.0: the PyPI wheel is built for CUDA 13.0 (matches /usr/local/cuda here) and is the
# version preinstalled on the GPU machine, so both builds compile against the same headers.
TORCH_VERSION=2.11.0
PY_PINS=(
  "torch==${TORCH_VERSION}"
  "numpy==2.3.5"
  "scipy==1.16.3"
  "transformers==4.57.3"
  "tokenizers==0.22.1"
  "safetensors==0.7.0"
  "sentence-transformers==5.1.2"
  "h5py==3.15.1"
)
APT_PKGS=(
  build-essential cmake ninja-build ccache pkg-config git python3-venv
  libopenmpi-dev openmpi-bin
  libhdf5-dev
  libboost-program-options-dev
  libcivetweb-dev prometheus-cpp-dev libcurl4-openssl-dev
  libssl-dev
  prometheus
  libutf8proc-dev
  nlohmann-json3-dev
  libgtest-dev libgmock-dev
  zlib1g-dev libzstd-dev zstd
  slurmctld slurmd slurm-client munge
  # the simulated multi-node test (tests/cluster/multinode/): ip netns, veth, bridge; unshare
  iproute2 util-linux
  # the report tests (tests/report/): report.html loaded in a real headless browser
  chromium
  # tests/install/: a throwaway unprivileged user (useradd/userdel, runuser)
  passwd
)
PY=${SIMCSEPP_PYTHON:-python3}
WHEELHOUSE_DEFAULT=/var/cache/simcsepp-wheelhouse

log() { echo "[setup] $*"; }
die() { echo "[setup] ERROR: $*" >&2; exit 1; }

# The stamp of a venv or wheelhouse: the pins plus the Python they are for (wheels are per version).
pins_stamp() { printf '%s\n' "${PY_PINS[@]}" "python $("$1" -c 'import sys;print("%d.%d"%sys.version_info[:2])')"; }

check_torch() {
  "$1/bin/python" - <<'PY'
import torch
print(f"[setup] torch {torch.__version__} (CUDA {torch.version.cuda}) at {torch.utils.cmake_prefix_path}")
PY
}

# ============================== system mode ======================================================
if [ "$mode" = system ]; then
  if [ "$(id -u)" -ne 0 ]; then
    die "system mode needs root (it runs apt-get and writes ${SIMCSEPP_VENV:-/opt/simcsepp-venv}); you are $(id -un). HINT: run it as root, or use user mode: bash scripts/setup.sh --user (docs/build.md, \"Installing without root\")"
  fi
  VENV=${SIMCSEPP_VENV:-/opt/simcsepp-venv}
  WHEELHOUSE=${SIMCSEPP_WHEELHOUSE-$WHEELHOUSE_DEFAULT}
  missing=()
  for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    log "system packages present"
  fi

  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment $VENV"
    "$PY" -m venv "$VENV"
  fi
  want=$(pins_stamp "$VENV/bin/python")
  # The wheelhouse: every wheel of the pins and their dependencies (torch's CUDA 13 wheels: about
  # 2.7 GB), downloaded once; the shared venv and each user's venv install from it offline.
  if [ -n "$WHEELHOUSE" ]; then
    if [ ! -f "$WHEELHOUSE/.simcsepp-pins" ] || [ "$(cat "$WHEELHOUSE/.simcsepp-pins")" != "$want" ]; then
      log "pip download ${PY_PINS[*]} into the wheelhouse $WHEELHOUSE"
      mkdir -p "$WHEELHOUSE"
      "$VENV/bin/pip" download -q -d "$WHEELHOUSE" pip "${PY_PINS[@]}"
      echo "$want" > "$WHEELHOUSE/.simcsepp-pins"
      chmod -R a+rX "$WHEELHOUSE"
    else
      log "wheelhouse $WHEELHOUSE has the pinned wheels"
    fi
  fi
  stamp="$VENV/.simcsepp-pins"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    if [ -n "$WHEELHOUSE" ]; then
      log "pip install ${PY_PINS[*]} (offline, from $WHEELHOUSE)"
      "$VENV/bin/pip" install -q --no-index --find-links "$WHEELHOUSE" --upgrade pip
      "$VENV/bin/pip" install -q --no-index --find-links "$WHEELHOUSE" "${PY_PINS[@]}"
    else
      log "pip install ${PY_PINS[*]}"
      "$VENV/bin/pip" install -q --upgrade pip
      "$VENV/bin/pip" install -q "${PY_PINS[@]}"
    fi
    echo "$want" > "$stamp"
  else
    log "python packages present in $VENV"
  fi
  check_torch "$VENV"
  exit 0
fi

# ============================== user mode ========================================================
# Every check runs; what is missing is collected and reported at once.
missing=()
# miss <what> <Debian package> <module/Spack/conda hint>
miss() { missing+=("$1|$2|$3"); }

# --- tools ---
CXX_BIN=${CXX:-c++}
CC_BIN=${CC:-cc}
cxx_ok=0
probe_dir=$(mktemp -d "${TMPDIR:-/tmp}/simcsepp-setup.XXXXXX")
trap 'rm -rf "$probe_dir"' EXIT
cat > "$probe_dir/cxx20.cpp" <<'CPP'
#include <concepts>
#include <span>
template <std::integral T> T twice(T v) { return v * 2; }
int main() { int a[2] = {1, 2}; std::span<int> s(a); return twice(s[0]) == 2 ? 0 : 1; }
CPP
if ! command -v "$CXX_BIN" >/dev/null 2>&1; then
  miss "C++20 compiler ($CXX_BIN, from \$CXX or c++: not found)" "build-essential (g++ 12)" "module load gcc/12 (any GCC >= 11 or Clang >= 14); spack load gcc@12; conda install -c conda-forge gxx_linux-64=12"
elif ! "$CXX_BIN" -std=c++20 -o "$probe_dir/cxx20" "$probe_dir/cxx20.cpp" 2>"$probe_dir/cxx20.err"; then
  miss "C++20 compiler ($CXX_BIN cannot compile -std=c++20: $(head -c 200 "$probe_dir/cxx20.err" | tr '\n' ' '))" "build-essential (g++ 12)" "module load gcc/12 (any GCC >= 11 or Clang >= 14); spack load gcc@12; conda install -c conda-forge gxx_linux-64=12"
elif ! command -v "$CC_BIN" >/dev/null 2>&1; then
  miss "C compiler ($CC_BIN, from \$CC or cc: not found; CMake enables C too)" "build-essential (gcc 12)" "module load gcc/12; spack load gcc@12; conda install -c conda-forge gcc_linux-64=12"
else
  cxx_ok=1
  log "C++20 compiler: $(command -v "$CXX_BIN") ($("$CXX_BIN" --version | head -1))"
fi

cmake_ok=0
if ! command -v cmake >/dev/null 2>&1; then
  miss "cmake >= 3.22 (not found)" "cmake" "module load cmake; spack load cmake; pip install cmake (into any venv, then put its bin/ on PATH)"
else
  cv=$(cmake --version | sed -n 's/^cmake version \([0-9][0-9.]*\).*/\1/p')
  if [ -n "$cv" ] && [ "$(printf '%s\n' 3.22 "$cv" | sort -V | head -1)" = 3.22 ]; then
    cmake_ok=1; log "cmake $cv: $(command -v cmake)"
  else
    miss "cmake >= 3.22 ($(command -v cmake) is ${cv:-of unknown version})" "cmake" "module load cmake; spack load cmake; pip install cmake (into any venv, then put its bin/ on PATH)"
  fi
fi
if command -v ninja >/dev/null 2>&1; then log "ninja: $(command -v ninja)"
elif command -v make >/dev/null 2>&1; then log "make: $(command -v make) (no ninja: scripts/build.sh uses Unix Makefiles)"
else miss "ninja or make" "ninja-build (or make)" "module load ninja; spack load ninja; pip install ninja; conda install -c conda-forge ninja"
fi
for t in mpicxx mpirun; do
  if command -v "$t" >/dev/null 2>&1; then log "$t: $(command -v "$t")"
  else miss "$t (MPI)" "libopenmpi-dev openmpi-bin" "module load openmpi (or mpich, intel-mpi; the cluster's own MPI is best); spack load openmpi; conda install -c conda-forge openmpi-mpicxx"
  fi
done
if ! command -v "$PY" >/dev/null 2>&1; then
  miss "python3 ($PY: not found)" "python3 python3-venv" "module load python/3.11; spack load python@3.11; conda create -n py311 python=3.11 (then SIMCSEPP_PYTHON=<that python>)"
elif ! "$PY" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
  miss "python3 >= 3.10 with venv and ensurepip ($(command -v "$PY"): $("$PY" --version 2>&1))" "python3-venv" "module load python/3.11; spack load python@3.11; conda create -n py311 python=3.11 (then SIMCSEPP_PYTHON=<that python>)"
else
  log "python: $(command -v "$PY") ($("$PY" --version 2>&1))"
fi

# --- libraries: found by CMake exactly as cmake/SimcseppDependencies.cmake finds them, so the
# same hints (CMAKE_PREFIX_PATH, HDF5_ROOT, Boost_ROOT, MPI_HOME, ..., SIMCSEPP_CMAKE_ARGS) apply.
if [ "$cmake_ok" = 1 ] && [ "$cxx_ok" = 1 ]; then
  cat > "$probe_dir/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.22)
project(simcsepp_setup_probe LANGUAGES C CXX)
function(report key found detail)
  if(found)
    message(STATUS "SIMCSEPP_PROBE ${key} FOUND ${detail}")
  else()
    message(STATUS "SIMCSEPP_PROBE ${key} MISSING")
  endif()
endfunction()
find_package(MPI COMPONENTS CXX QUIET)
report(mpi "${MPI_CXX_FOUND}" "MPI ${MPI_CXX_VERSION}: ${MPI_CXX_COMPILER}")
find_package(HDF5 COMPONENTS C QUIET)
report(hdf5 "${HDF5_FOUND}" "HDF5 ${HDF5_VERSION}: ${HDF5_INCLUDE_DIRS}")
find_package(Boost 1.74 COMPONENTS program_options QUIET)
report(boost "${Boost_FOUND}" "Boost ${Boost_VERSION}: ${Boost_INCLUDE_DIRS}")
find_package(CURL QUIET)
report(curl "${CURL_FOUND}" "libcurl ${CURL_VERSION_STRING}: ${CURL_LIBRARIES}")
find_package(civetweb CONFIG QUIET)
set(_cw FALSE)
if(TARGET civetweb::civetweb-cpp)
  set(_cw TRUE)
endif()
report(civetweb "${_cw}" "civetweb: ${civetweb_DIR}")
find_package(prometheus-cpp CONFIG QUIET)
set(_pc FALSE)
if(TARGET prometheus-cpp::core)
  set(_pc TRUE)
endif()
report(prometheus_cpp "${_pc}" "prometheus-cpp: ${prometheus-cpp_DIR}")
find_path(UTF8PROC_INCLUDE_DIR utf8proc.h)
find_library(UTF8PROC_LIBRARY utf8proc)
set(_u FALSE)
if(UTF8PROC_INCLUDE_DIR AND UTF8PROC_LIBRARY)
  set(_u TRUE)
endif()
report(utf8proc "${_u}" "utf8proc: ${UTF8PROC_LIBRARY}")
find_package(nlohmann_json 3 QUIET)
report(nlohmann_json "${nlohmann_json_FOUND}" "nlohmann-json ${nlohmann_json_VERSION}: ${nlohmann_json_DIR}")
find_package(ZLIB QUIET)
report(zlib "${ZLIB_FOUND}" "zlib ${ZLIB_VERSION_STRING}: ${ZLIB_LIBRARIES}")
find_path(ZSTD_INCLUDE_DIR zstd.h)
find_library(ZSTD_LIBRARY zstd)
set(_z FALSE)
if(ZSTD_INCLUDE_DIR AND ZSTD_LIBRARY)
  set(_z TRUE)
endif()
report(zstd "${_z}" "zstd: ${ZSTD_LIBRARY}")
find_package(OpenSSL 3 COMPONENTS Crypto QUIET)
set(_o FALSE)
if(OpenSSL_FOUND AND TARGET OpenSSL::Crypto)
  set(_o TRUE)
endif()
report(openssl "${_o}" "OpenSSL ${OPENSSL_VERSION}: ${OPENSSL_CRYPTO_LIBRARY}")
find_package(GTest QUIET)
report(gtest "${GTest_FOUND}" "GoogleTest: ${GTest_DIR}")
CMAKE
  # shellcheck disable=SC2086 # SIMCSEPP_CMAKE_ARGS is a list of -D options, split on spaces
  if ! CC=$CC_BIN CXX=$CXX_BIN cmake -S "$probe_dir" -B "$probe_dir/build" ${SIMCSEPP_CMAKE_ARGS:-} >"$probe_dir/probe.log" 2>&1; then
    cat "$probe_dir/probe.log" >&2
    die "the library probe (a small CMake project in $probe_dir) failed to configure; its log is above"
  fi
  declare -A lib_hint=(
    [mpi]="MPI C++ (FindMPI: mpicxx)|libopenmpi-dev openmpi-bin|module load openmpi (or mpich, intel-mpi); spack load openmpi; conda install -c conda-forge openmpi-mpicxx; or -DMPI_CXX_COMPILER=<prefix>/bin/mpicxx"
    [hdf5]="HDF5 C library + headers (FindHDF5: h5cc)|libhdf5-dev|module load hdf5 (a serial or parallel build); spack load hdf5; conda install -c conda-forge hdf5; or HDF5_ROOT=<prefix>"
    [boost]="Boost.Program_options >= 1.74|libboost-program-options-dev|module load boost; spack load boost+program_options; conda install -c conda-forge libboost-devel; or Boost_ROOT=<prefix>"
    [curl]="libcurl (prometheus-cpp's CMake config needs it)|libcurl4-openssl-dev|module load curl; spack load curl; conda install -c conda-forge libcurl; or CMAKE_PREFIX_PATH=<prefix>"
    [civetweb]="civetweb with its C++ library (the /metrics HTTP server)|libcivetweb-dev|spack load civetweb; conda install -c conda-forge civetweb; or build civetweb with -DCIVETWEB_ENABLE_CXX=ON into a prefix on CMAKE_PREFIX_PATH"
    [prometheus_cpp]="prometheus-cpp (the /metrics endpoint; its tests fail without it)|prometheus-cpp-dev|spack load prometheus-cpp; conda install -c conda-forge prometheus-cpp; or build it into a prefix on CMAKE_PREFIX_PATH"
    [utf8proc]="utf8proc (the tokenizer)|libutf8proc-dev|spack load utf8proc; conda install -c conda-forge utf8proc; or CMAKE_PREFIX_PATH=<prefix>"
    [nlohmann_json]="nlohmann-json >= 3|nlohmann-json3-dev|spack load nlohmann-json; conda install -c conda-forge nlohmann_json; or CMAKE_PREFIX_PATH=<prefix> (header-only)"
    [zlib]="zlib|zlib1g-dev|module load zlib; spack load zlib; conda install -c conda-forge zlib; or ZLIB_ROOT=<prefix>"
    [zstd]="zstd (.zst inputs of simcsepp prep)|libzstd-dev|module load zstd; spack load zstd; conda install -c conda-forge zstd; or CMAKE_PREFIX_PATH=<prefix>"
    [openssl]="OpenSSL 3 libcrypto (SHA-256 checksums)|libssl-dev|module load openssl; spack load openssl; conda install -c conda-forge openssl; or OPENSSL_ROOT_DIR=<prefix>"
    [gtest]="GoogleTest (every test)|libgtest-dev libgmock-dev|spack load googletest; conda install -c conda-forge gtest gmock; or GTest_ROOT=<prefix>"
  )
  for key in mpi hdf5 boost curl civetweb prometheus_cpp utf8proc nlohmann_json zlib zstd openssl gtest; do
    line=$(grep -m1 "SIMCSEPP_PROBE $key " "$probe_dir/probe.log" || true)
    case $line in
      *" FOUND "*) log "${line#*FOUND }" ;;
      *) miss "${lib_hint[$key]%%|*}" "$(cut -d'|' -f2 <<<"${lib_hint[$key]}")" "${lib_hint[$key]#*|*|}" ;;
    esac
  done
else
  log "libraries (MPI, HDF5, Boost, prometheus-cpp, ...) not checked yet: CMake finds them with the compilers, so re-run once cmake >= 3.22 and the compilers are there"
fi

# --- optional: reported, never fatal ---
opt() {
  if command -v "$1" >/dev/null 2>&1; then log "optional $1: $(command -v "$1")"; else log "optional $1: not found - $2"; fi
}
opt ccache "builds are slower without it (Debian ccache; module load ccache; spack load ccache)"
opt srun "no Slurm here: the slurm.* tests (they also need root: each starts its own slurmctld/slurmd) cannot run; training runs under mpirun"
opt prometheus "monitoring.prometheus_service and monitoring.prometheus_training need a Prometheus server binary (Debian prometheus, or the release tarball's prometheus on PATH); /metrics itself works without it"
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  log "optional chromium: $(command -v chromium || command -v chromium-browser)"
else
  log "optional chromium: not found - the report.* browser tests fail without it (Debian chromium); simcsepp report works without it"
fi
log "root only (not run without root): slurm.* and cluster.multinode_2x2 (network namespaces), cli.bad_input (mounts a tmpfs), install.unprivileged (creates a user)"

if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] MISSING ${#missing[@]} required dependencies (user mode installs nothing system-wide):" >&2
  for m in "${missing[@]}"; do
    IFS='|' read -r what deb hint <<<"$m"
    echo "[setup]   - $what" >&2
    echo "[setup]       Debian/Ubuntu package: $deb (an administrator installs it)" >&2
    echo "[setup]       without root: $hint" >&2
  done
  echo "[setup] HINT: load them (module load ...), put their prefixes on CMAKE_PREFIX_PATH or pass -D<Pkg>_ROOT=... in SIMCSEPP_CMAKE_ARGS, and re-run; docs/build.md, \"Installing without root (clusters)\"." >&2
  exit 1
fi

# --- the user's own venv ---
VENV=${SIMCSEPP_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/simcsepp-venv}
want=$(pins_stamp "$PY")
stamp="$VENV/.simcsepp-pins"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  log "python packages present in $VENV"
else
  parent=$(dirname "$VENV")
  mkdir -p "$parent" 2>/dev/null || true
  if { [ -e "$VENV" ] && [ ! -w "$VENV" ]; } || { [ ! -e "$VENV" ] && [ ! -w "$parent" ]; }; then
    die "venv $VENV is not writable by $(id -un) and lacks these pins. HINT: SIMCSEPP_VENV=<a directory of yours> (default ${XDG_DATA_HOME:-$HOME/.local/share}/simcsepp-venv)"
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment $VENV"
    "$PY" -m venv "$VENV"
  fi
  # A wheelhouse (system mode keeps one) with the same pins for the same Python: install offline.
  WHEELHOUSE=${SIMCSEPP_WHEELHOUSE-$WHEELHOUSE_DEFAULT}
  if [ -n "$WHEELHOUSE" ] && [ -r "$WHEELHOUSE/.simcsepp-pins" ] && [ "$(cat "$WHEELHOUSE/.simcsepp-pins")" = "$want" ]; then
    log "pip install ${PY_PINS[*]} (offline, from the wheelhouse $WHEELHOUSE)"
    "$VENV/bin/pip" install -q --no-index --find-links "$WHEELHOUSE" --upgrade pip
    "$VENV/bin/pip" install -q --no-index --find-links "$WHEELHOUSE" "${PY_PINS[@]}"
  elif [ -n "${SIMCSEPP_WHEELHOUSE:-}" ]; then
    die "SIMCSEPP_WHEELHOUSE=$SIMCSEPP_WHEELHOUSE has no wheels for these pins and $("$PY" --version 2>&1) (no readable .simcsepp-pins matching them). HINT: root's scripts/setup.sh fills it; or SIMCSEPP_WHEELHOUSE= (empty) installs from PyPI"
  else
    log "pip install ${PY_PINS[*]} (from PyPI: no wheelhouse with these pins at $WHEELHOUSE_DEFAULT; about 2.7 GB of wheels)"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q "${PY_PINS[@]}"
  fi
  echo "$want" > "$stamp"
fi
check_torch "$VENV"
log "next: SIMCSEPP_VENV=$VENV bash scripts/build.sh (build.sh picks this venv by default in user mode)"
