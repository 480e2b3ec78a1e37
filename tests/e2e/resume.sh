#!/usr/bin/env bash
# Bitwise resume (DESIGN.md conventions 8 and 11): a run stopped at a checkpoint and resumed
# continues the same trajectory as the uninterrupted run: the same loss at every step (as
# written to metrics.jsonl, compared as text) and byte-identical final checkpoints.
#   bash tests/e2e/resume.sh path/to/attnlab
set -euo pipefail
BIN="$1"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export ATTNLAB_THREADS=2
source "$(dirname "$0")/lib.sh"

make_corpus "$TMP/corpus"
N=24 HALF=12

# losses FILE [FROM]: "step loss grad_norm lr" per line, as the exact text metrics.jsonl holds.
losses() {
  python3 - "$1" "${2:-0}" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    step = re.search(r'"step":(\d+)', line)
    values = [re.search(rf'"{k}":([^,}}]*)', line) for k in ("loss", "grad_norm", "lr")]
    if step and all(values) and int(step.group(1)) > int(sys.argv[2]):
        print(step.group(1), *(v.group(1) for v in values))
PY
}

# same_run A B: both run folders hold the same trajectory and the same final checkpoint.
same_run() {
  local a="$1" b="$2" what="$3"
  [ "$(losses "$a/metrics.jsonl" | wc -l)" -eq $N ] || fail "$what: $a/metrics.jsonl has not $N loss lines"
  diff <(losses "$a/metrics.jsonl") <(losses "$b/metrics.jsonl") > "$TMP/diff.txt" \
    || fail "$what: losses differ after the resume:"$'\n'"$(cat "$TMP/diff.txt")"
  diff <(grep -o '"val_loss":[^,}]*' "$a/metrics.jsonl") <(grep -o '"val_loss":[^,}]*' "$b/metrics.jsonl") \
    > /dev/null || fail "$what: validation losses differ after the resume"
  local s
  s=$(cat "$a/latest")
  [ "$(cat "$b/latest")" = "$s" ] || fail "$what: latest differs: $s vs $(cat "$b/latest")"
  for f in model.safetensors train_state.safetensors; do
    cmp -s "$a/$s/$f" "$b/$s/$f" || fail "$what: $s/$f differs from the uninterrupted run's"
  done
}

# ---- 1. extending a finished run: N/2 steps, then --resume with train.steps = N ----
# The constant schedule (after warmup) does not depend on train.steps, so the first half
# is the same run whether it was planned for N/2 or N steps.
write_config "$TMP/const.toml" "$TMP/corpus/prepared" $N "schedule = \"constant\"" "checkpoint_every = $HALF" \
  "eval_every = 6"
"$BIN" train "$TMP/const.toml" --out "$TMP/full" --quiet > /dev/null
"$BIN" train "$TMP/const.toml" --set train.steps=$HALF --out "$TMP/split" --quiet > /dev/null
[ "$(cat "$TMP/split/latest")" = step_000012 ] || fail "the first half did not end at step $HALF"
"$BIN" train "$TMP/const.toml" --out "$TMP/split" --resume --quiet > /dev/null
[ "$(losses "$TMP/split/metrics.jsonl" $HALF | wc -l)" -eq $HALF ] || fail "no losses logged after the resume"
same_run "$TMP/full" "$TMP/split" "constant schedule, extended run"

# ---- 2. a crash: a cosine run with gradient accumulation killed after its step-N/2 checkpoint ----
# Simulated exactly as a crash leaves the folder: the newest checkpoint gone, `latest` naming
# the one before, and metrics.jsonl holding lines past it (resume drops them).
write_config "$TMP/cos.toml" "$TMP/corpus/prepared" $N "schedule = \"cosine\"" "grad_accum = 2" \
  "checkpoint_every = $HALF" "eval_every = 6" "keep_checkpoints = 3"
"$BIN" train "$TMP/cos.toml" --out "$TMP/cos_full" --quiet > /dev/null
mkdir -p "$TMP/cos_crash"
cp -r "$TMP/cos_full/step_000012" "$TMP/cos_crash/"
echo step_000012 > "$TMP/cos_crash/latest"
head -n 17 "$TMP/cos_full/metrics.jsonl" > "$TMP/cos_crash/metrics.jsonl"
"$BIN" train "$TMP/cos.toml" --out "$TMP/cos_crash" --resume --quiet > /dev/null
same_run "$TMP/cos_full" "$TMP/cos_crash" "cosine schedule with grad_accum, crash at step $HALF"

echo "bitwise resume: ok ($N steps, resumed at $HALF; constant and cosine schedules)"
