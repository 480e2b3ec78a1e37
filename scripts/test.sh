#!/usr/bin/env bash
# Runs the whole test suite (README's second command; .ci/run runs exactly this).
#   bash scripts/test.sh             # set up, build, run every test
#   PRESET=debug-asan bash scripts/test.sh   # the same under AddressSanitizer + UBSan
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET="${PRESET:-release}"
bash scripts/setup.sh
echo "[test] running ctest (preset $PRESET)"
ctest --preset "$PRESET" -j"$(nproc)"
