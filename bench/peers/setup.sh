#!/usr/bin/env bash
# Creates bench/peers/.venv with PyTorch 2.x from PyPI for the peer benchmarks.
# Not part of the build or the test suite. PyPI's Linux wheel of torch carries the CUDA
# libraries as dependencies (a few GB); set TORCH_INDEX_URL to a CPU-only wheel index to
# avoid them. tcmalloc (Debian's libgoogle-perftools4) is used by run scripts when present.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PEER_VENV:-$here/.venv}"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  if [[ -n "${TORCH_INDEX_URL:-}" ]]; then
    "$venv/bin/pip" install --quiet --index-url "$TORCH_INDEX_URL" torch
  else
    "$venv/bin/pip" install --quiet torch
  fi
  "$venv/bin/pip" install --quiet numpy
fi
"$venv/bin/python" -c 'import torch; print("torch", torch.__version__, "in", "'"$venv"'")'
