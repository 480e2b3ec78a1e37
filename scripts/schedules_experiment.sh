#!/usr/bin/env bash
# Schedule comparison (issue 9): cosine runs of 100, 200 and 300 steps; WSD branches
# (20% 1-sqrt decays) off one constant-rate run; one WSD-S run with budgets 100, 200, 300.
# Same model, data order and tokens per step everywhere (configs/schedules/).
# Writes RUNS/<name>/ and, via scripts/recipes_report.py, RUNS/schedules.svg and a table.
#   bash scripts/schedules_experiment.sh [RUNS]      (default runs/schedules)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-runs/schedules}"
BIN=./build/release/attnlab
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
BASE=configs/schedules/base.toml
train() { nice -n 5 "$BIN" train "$@" --quiet; }
mkdir -p "$RUNS"

for steps in 100 200 300; do
  train "$BASE" --set train.steps=$steps --out "$RUNS/cosine_$steps"
done

# WSD: a constant-rate main run with checkpoints where each branch starts its decay
# (80, 160, 240 = budget - 20% of it), and one branch per budget resumed from there.
train "$BASE" --set train.schedule=constant --set train.steps=240 --set train.checkpoint_every=80 \
  --out "$RUNS/wsd_main"
for budget in 100 200 300; do
  start=$(( budget * 4 / 5 ))
  dir="$RUNS/wsd_$budget"
  rm -rf "$dir" && mkdir -p "$dir"
  cp -r "$RUNS/wsd_main/$(printf 'step_%06d' $start)" "$dir/"
  printf 'step_%06d\n' $start > "$dir/latest"
  cp "$RUNS/wsd_main/metrics.jsonl" "$dir/"  # resume keeps the lines up to the branch point
  train "$BASE" --set train.schedule=wsd --set train.steps=$budget --set train.decay_fraction=0.2 \
    --set train.decay_shape=1-sqrt --out "$dir" --resume
done

train configs/schedules/wsds.toml --out "$RUNS/wsds"
python3 scripts/recipes_report.py schedules "$RUNS"
