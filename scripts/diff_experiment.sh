#!/usr/bin/env bash
# The differential attention experiment (issue 5): trains configs/diff/softmax.toml and
# configs/diff/diff.toml (equal projection shapes, same tokens, same seed), then evaluates
# both from the training length (128) to 8x it, writing a table, a CSV and an SVG plot.
#   bash scripts/diff_experiment.sh [RUN_ROOT]     (default runs/diff)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${1:-runs/diff}"
BIN=./build/release/attnlab
[ -x "$BIN" ] || { echo "[diff] error: $BIN not built; run scripts/setup.sh first" >&2; exit 1; }
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

bash scripts/prepare_corpus.sh
for m in softmax diff; do
  echo "[diff] training configs/diff/$m.toml into $ROOT/$m"
  start=$(date +%s)
  nice -n 5 "$BIN" train "configs/diff/$m.toml" --out "$ROOT/$m"
  echo "[diff] $m trained in $(( $(date +%s) - start )) s"
done
echo "[diff] evaluating both at 128..1024 tokens"
nice -n 5 "$BIN" eval "$ROOT/softmax" "$ROOT/diff" --lengths 128,256,512,1024 --max-tokens 8192 \
  --json "$ROOT/eval.json" --csv "$ROOT/eval.csv" --plot "$ROOT/eval.svg"
echo "[diff] wrote $ROOT/eval.csv and $ROOT/eval.svg"
cat "$ROOT/eval.csv"
