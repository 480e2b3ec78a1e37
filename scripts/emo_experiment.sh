#!/usr/bin/env bash
# EMO against cross-entropy (issue 9): pretrain a small byte model with cross-entropy
# (configs/emo/pretrain.toml), then fine-tune copies of it for the same 150 steps with
# cross-entropy, EMO (ce-equal) and EMO (emo-emphasised) against the pretrained model's
# frozen head, and EMO (ce-equal) against the model's own head (detached, each step). Then sample from each and compute validation perplexity
# and sampling proxies (distinct-n, repetition) with scripts/recipes_report.py.
#   bash scripts/emo_experiment.sh [RUNS]      (default runs/emo)
#   SKIP_TRAIN=1 bash scripts/emo_experiment.sh   # keep the trained runs, sample again
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-runs/emo}"
BIN=./build/release/attnlab
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
train() { nice -n 5 "$BIN" train "$@" --quiet; }
mkdir -p "$RUNS"

[ -f "$RUNS/pretrain/latest" ] || train configs/emo/pretrain.toml --out "$RUNS/pretrain"
PRE="$RUNS/pretrain/$(cat "$RUNS/pretrain/latest")"

finetune() {
  local name="$1"; shift
  local dir="$RUNS/$name"
  [ "${SKIP_TRAIN:-0}" = 1 ] && [ -f "$dir/latest" ] && return  # only resample
  rm -rf "$dir" && mkdir -p "$dir"
  cp -r "$PRE" "$dir/" && basename "$PRE" > "$dir/latest"
  train configs/emo/finetune.toml "$@" --out "$dir" --resume
}
finetune ce --set train.loss=ce
finetune emo --set train.loss=emo --set train.emo_mode=ce-equal --set "train.emo_head=$PRE"
finetune emo2 --set train.loss=emo --set train.emo_mode=emo-emphasised --set "train.emo_head=$PRE"
finetune emo_self --set train.loss=emo --set train.emo_mode=ce-equal --set train.emo_head=self

# Samples: 4 prompts x 16 seeds, 400 bytes each, temperature 1 (unbiased sampling).
prompts=("The standard library" "def main():" "Return a new" "This module provides")
for name in pretrain ce emo emo2 emo_self; do
  out="$RUNS/$name/samples.txt"
  : > "$out"
  for p in "${prompts[@]}"; do
    for seed in $(seq 1 16); do
      nice -n 5 "$BIN" generate "$RUNS/$name" --prompt "$p" --max-new 400 --temperature 1 --seed $seed >> "$out"
      printf '\n<<<END>>>\n' >> "$out"
    done
  done
done
python3 scripts/recipes_report.py emo "$RUNS"
