#!/usr/bin/env bash
# The length-extrapolation experiment (docs/RESULTS.md, "Length extrapolation"): trains the
# same small byte-level model at T = 128 with each position scheme in
# configs/extrapolation/, then evaluates every checkpoint from 1x to 16x the training length
# on the same validation tokens, plus the evaluation-time scalings (RoPE PI, NTK, YaRN and
# dynamic NTK; ALiBi interpolation and NTK-ALiBi). Writes into OUT (default
# runs/extrapolation): results.csv (one row per model, scaling and length), results.md (a
# table) and perplexity.svg (perplexity against length, log2 axis).
#
#   bash scripts/extrapolation.sh [OUT]
#   MODELS="rope alibi" LENGTHS=128,512 MAX_TOKENS=4096 bash scripts/extrapolation.sh runs/x
#   SEED=2 bash scripts/extrapolation.sh runs/extrapolation_seed2    (train.seed; default the configs' 1234)
#
# Resumable: a model whose run folder has a finished checkpoint is not trained again, and
# an evaluation whose CSV exists is not run again (delete OUT/eval to redo them). Not part
# of CI: it takes 30-60 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/extrapolation}"
BIN="${ATTNLAB:-build/release/attnlab}"
MODELS="${MODELS:-nope rope alibi kerple keynorm_rope logn_rope dape_alibi dape_kerple}"
LENGTHS="${LENGTHS:-128,256,512,1024,2048}"
MAX_TOKENS="${MAX_TOKENS:-4096}"
SEED_SET=()
[ -n "${SEED:-}" ] && SEED_SET=(--set "train.seed=$SEED")
TRAIN_LENGTH=128
NICE="nice -n ${NICE_LEVEL:-5}"
# One thread pool that sleeps when idle (specs/machine.md #7).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
say() { printf '[extrapolation] %s\n' "$*"; }
[ -x "$BIN" ] || { echo "[extrapolation] error: $BIN not built; run scripts/setup.sh first" >&2; exit 1; }
for m in $MODELS; do
  [ -f "configs/extrapolation/$m.toml" ] || { echo "[extrapolation] error: no configs/extrapolation/$m.toml" >&2; exit 1; }
done

bash scripts/prepare_corpus.sh
mkdir -p "$OUT/eval"
start=$(date +%s)

# ---- training ----
for m in $MODELS; do
  if ls "$OUT/$m"/step_* >/dev/null 2>&1 && [ -f "$OUT/$m/train_seconds" ]; then
    say "$m: already trained ($OUT/$m)"
    continue
  fi
  say "training $m (configs/extrapolation/$m.toml)"
  t0=$(date +%s)
  $NICE "$BIN" train "configs/extrapolation/$m.toml" --out "$OUT/$m" --quiet "${SEED_SET[@]}"
  echo $(( $(date +%s) - t0 )) > "$OUT/$m/train_seconds"
  say "$m trained in $(cat "$OUT/$m/train_seconds") s"
done

# ---- evaluation ----
# eval LABEL MODEL LENGTHS [--set key=value ...]
evaluate() {
  local label="$1" model="$2" lengths="$3"
  shift 3
  local csv="$OUT/eval/$label.csv"
  if [ -f "$csv" ]; then say "eval $label: done already"; return 0; fi
  case " $MODELS " in *" $model "*) ;; *) return 0 ;; esac
  say "eval $label ($model, lengths $lengths) $*"
  local t0=$(date +%s)
  $NICE "$BIN" eval "$OUT/$model" --lengths "$lengths" --max-tokens "$MAX_TOKENS" --csv "$csv.tmp" "$@" >/dev/null
  mv "$csv.tmp" "$csv"
  echo $(( $(date +%s) - t0 )) > "$OUT/eval/$label.seconds"
}
# A scaling with a factor: s = L / L_train at each length L (s = 1 at the training length).
evaluate_scaled() {
  local label="$1" model="$2" scaling="$3" L
  local parts=()
  for L in ${LENGTHS//,/ }; do
    local s=$(( L > TRAIN_LENGTH ? L / TRAIN_LENGTH : 1 ))
    evaluate "$label@$L" "$model" "$L" --set "model.mixer.rope_scaling=$scaling" --set "model.mixer.rope_factor=$s"
    parts+=("$OUT/eval/$label@$L.csv")
  done
  [ -f "${parts[0]}" ] || return 0
  { head -n 1 "${parts[0]}"; for p in "${parts[@]}"; do tail -n +2 "$p"; done; } > "$OUT/eval/$label.csv"
  rm -f "${parts[@]}"
}

for m in $MODELS; do evaluate "$m" "$m" "$LENGTHS"; done
evaluate_scaled "rope+pi" rope pi
evaluate_scaled "rope+ntk" rope ntk
evaluate_scaled "rope+yarn" rope yarn
evaluate "rope+dynamic_ntk" rope "$LENGTHS" --set model.mixer.rope_scaling=dynamic_ntk --set model.mixer.rope_factor=1
evaluate_scaled "keynorm_rope+yarn" keynorm_rope yarn
# ALiBi: a = max(1, L / L_train) from each window's length.
evaluate "alibi+interpolate" alibi "$LENGTHS" --set model.mixer.alibi_scaling=interpolate --set model.mixer.alibi_dynamic=true
evaluate "alibi+ntk" alibi "$LENGTHS" --set model.mixer.alibi_scaling=ntk --set model.mixer.alibi_dynamic=true

# ---- report ----
python3 scripts/extrapolation_report.py "$OUT" "$TRAIN_LENGTH"
say "done in $(( $(date +%s) - start )) s: $OUT/results.md, $OUT/results.csv, $OUT/perplexity.svg"
