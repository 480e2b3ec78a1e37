#!/usr/bin/env bash
# Runs attnlab and the PyTorch peer on the same shapes, one after the other in one go, and
# prints attnlab / peer ratios. Not part of the test suite.
#   bash bench/peers/compare.sh [--threads N] [--clock wall|cpu] WHAT [ARGS...]
#   WHAT: attention | train | decode; ARGS are passed to both (same flag names).
# Example: bash bench/peers/compare.sh --threads 1 --clock cpu train --config tiny --steps 2
# Uses build/release/attnlab (ATTNLAB_BIN overrides) and bench/peers/.venv (setup.sh makes
# it); preloads Debian's tcmalloc for the peer when present (machine.md #5).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${ATTNLAB_BIN:-$root/build/release/attnlab}"
[[ -x "$bin" ]] || { echo "compare.sh: no attnlab at $bin (build it, or set ATTNLAB_BIN)" >&2; exit 1; }
threads=0 clock=wall
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --clock) clock="$2"; shift 2 ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || { echo "usage: compare.sh [--threads N] [--clock wall|cpu] attention|train|decode [ARGS]" >&2; exit 2; }
what="$1"; shift
bash "$here/setup.sh" > /dev/null
export OMP_WAIT_POLICY=PASSIVE  # machine.md #7, for both
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
thread_flag=()
[[ "$threads" != 0 ]] && thread_flag=(--threads "$threads")
"$bin" "${thread_flag[@]}" bench "$what" --clock "$clock" "$@" | tee "$out/attnlab.txt"
tcmalloc="$(ls /usr/lib/*/libtcmalloc.so.4 2>/dev/null | head -1 || true)"
LD_PRELOAD="${tcmalloc}" "$here/.venv/bin/python" "$here/torch_peer.py" "${thread_flag[@]}" --clock "$clock" \
  "$what" "$@" | tee "$out/peer.txt"
echo
python3 "$here/compare.py" "$out/attnlab.txt" "$out/peer.txt"
