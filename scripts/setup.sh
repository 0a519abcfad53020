#!/usr/bin/env bash
# setup.sh - install everything simcsepp needs on a fresh Debian 12 machine, idempotently.
#
# System packages come from Debian (apt-get); libtorch and the test-only Python oracles come
# from PyPI into one virtual environment that is shared by every clone on this machine
# (SIMCSEPP_VENV, default /opt/simcsepp-venv). Re-running is cheap: each step checks first.
set -euo pipefail

VENV=${SIMCSEPP_VENV:-/opt/simcsepp-venv}
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
)

log() { echo "[setup] $*"; }

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

PY=${SIMCSEPP_PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.simcsepp-pins"
want=$(printf '%s\n' "${PY_PINS[@]}")
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "pip install ${PY_PINS[*]}"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "${PY_PINS[@]}"
  echo "$want" > "$stamp"
else
  log "python packages present in $VENV"
fi
"$VENV/bin/python" - <<'PY'
import torch
print(f"[setup] torch {torch.__version__} (CUDA {torch.version.cuda}) at {torch.utils.cmake_prefix_path}")
PY
