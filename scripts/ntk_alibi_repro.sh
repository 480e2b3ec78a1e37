#!/usr/bin/env bash
# NTK-ALiBi at small scale (docs/EVALUATION.md, "NTK-ALiBi reproduction"; claim in
# specs/mechanisms.md §7): for each of the LongEval tasks lines and topics, train a small
# ALiBi model on the task's format with prompts of at most L tokens, then evaluate at
# prompts of L, 2L and 4L tokens with plain ALiBi, interpolated slopes (m_h / a) and
# NTK-ALiBi (m_h / a^(rank/(H-1))), a = 2 and 4, all through --set at evaluation, no
# fine-tuning. Writes OUT/table.md (and the JSON of every evaluation).
#
#   bash scripts/ntk_alibi_repro.sh            # defaults below; env vars override them
#   L=128 STEPS=100 TRIALS=10 bash scripts/ntk_alibi_repro.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${ATTNLAB:-build/release/attnlab}"
OUT="${OUT:-runs/ntk_alibi}"
L="${L:-256}"                 # longest training prompt (tokens = bytes)
STEPS="${STEPS:-300}"
BATCH="${BATCH:-16}"
D_MODEL="${D_MODEL:-128}"
LAYERS="${LAYERS:-2}"
HEADS="${HEADS:-4}"
TRIALS="${TRIALS:-20}"
EXAMPLES="${EXAMPLES:-6000}"
NICE="${NICE:-nice -n 5}"
TASKS="${TASKS:-lines topics}"   # one at a time: TASKS=lines ... & TASKS=topics ... &
export OMP_WAIT_POLICY=PASSIVE
[ -x "$BIN" ] || { echo "ntk_alibi_repro: $BIN not built (cmake --build build/release --target attnlab)" >&2; exit 1; }
mkdir -p "$OUT"

for task in $TASKS; do
  data="$OUT/data/$task"
  # Prompts of L/2..L tokens (topics 3L/4..L); the training window is 2L so every window holds at least one
  # whole example (windows start anywhere in the stream of examples).
  # (topics: from 3L/4, since one conversation and the question take ~140 tokens)
  min=$((L / 2))
  [ "$task" = topics ] && min=$((3 * L / 4))
  $NICE "$BIN" task corpus "$task" --out "$data" --length "$L" --min-length "$min" \
    --examples "$EXAMPLES" --val-examples 200 --header short --exchanges 0 --seed 1
  cat > "$OUT/$task.toml" <<EOF
[model]
d_model = $D_MODEL
n_layers = $LAYERS
norm = "rms"
mlp = "swiglu"

[model.mixer]
name = "softmax"
heads = $HEADS
position = "alibi"

[data]
path = "$data"

[train]
seq_len = $((2 * L))
batch_size = $BATCH
steps = $STEPS
lr = 3e-3
lr_floor = 3e-4
schedule = "cosine"
warmup = $((STEPS / 10))
eval_every = $((STEPS / 3))
eval_windows = 16
checkpoint_every = $STEPS
EOF
  if [ ! -e "$OUT/run_$task/latest" ]; then
    /usr/bin/time -f "train $task: %e s" $NICE "$BIN" train "$OUT/$task.toml" --out "$OUT/run_$task" --quiet
  fi
  depths="0,0.5,1"
  [ "$task" = topics ] && depths="0"
  ev() {  # name, then --set arguments
    local name="$1"
    shift
    $NICE "$BIN" task eval "$OUT/run_$task" --task "$task" --lengths "$L,$((2 * L)),$((4 * L))" \
      --depths "$depths" --trials "$TRIALS" --header short --exchanges 0 --seed 7 "$@" \
      --json "$OUT/${task}_$name.json" > "$OUT/${task}_$name.txt"
  }
  ev alibi
  for a in 2 4; do
    ev "interpolate_a$a" --set model.mixer.alibi_scaling=interpolate --set model.mixer.alibi_factor=$a
    ev "ntk_a$a" --set model.mixer.alibi_scaling=ntk --set model.mixer.alibi_factor=$a
  done
done

python3 - "$OUT" "$L" "$STEPS" "$TRIALS" <<'PY'
import json, os, sys
out, L, steps, trials = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = [("ALiBi", "alibi"), ("interpolation a=2", "interpolate_a2"), ("NTK-ALiBi a=2", "ntk_a2"),
        ("interpolation a=4", "interpolate_a4"), ("NTK-ALiBi a=4", "ntk_a4")]
lines = [f"Prompts of at most L = {L} tokens in training (window {2 * L}), {steps} steps; "
         f"accuracy over {trials} prompts per cell (lines: x 3 depths).", ""]
for task in ("lines", "topics"):
    if not os.path.exists(f"{out}/{task}_ntk_a4.json"):
        continue
    lines += [f"**{task}**", "", f"| slopes | L = {L} | 2L = {2 * L} | 4L = {4 * L} |", "|---|---|---|---|"]
    for label, name in rows:
        doc = json.load(open(f"{out}/{task}_{name}.json"))
        acc = {}
        for c in doc["cells"]:
            n, k = acc.get(c["length"], (0, 0))
            acc[c["length"]] = (n + c["trials"], k + c["correct"])
        cells = [f"{100 * acc[x][1] / acc[x][0]:.0f}% ({acc[x][1]}/{acc[x][0]})" for x in (L, 2 * L, 4 * L)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
open(f"{out}/table.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
