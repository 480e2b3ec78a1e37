#!/usr/bin/env bash
# End-to-end conversion: train a tiny softmax model, convert it to DiJiang and retention,
# fine-tune each with --init-from, evaluate and decode; bad conversions and a model that
# does not fit the --init-from checkpoint are one-line errors.
#   bash tests/e2e/convert.sh path/to/attnlab
set -euo pipefail
BIN="$1"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export ATTNLAB_THREADS=2
source "$(dirname "$0")/lib.sh"

make_corpus "$TMP/corpus"
write_config "$TMP/teacher.toml" "$TMP/corpus/prepared" 20
"$BIN" train "$TMP/teacher.toml" --out "$TMP/teacher" --quiet > /dev/null

for to in dijiang retention; do
  "$BIN" convert "$TMP/teacher" --to $to --out "$TMP/${to}_init" > "$TMP/convert_$to.log"
  grep -q "^converted to $to: [0-9]* parameters copied, [0-9]* initialised (.*blocks.0.mixer.wg.weight" \
    "$TMP/convert_$to.log" || fail "convert summary: $(cat "$TMP/convert_$to.log")"
  grep -q "^name = \"$to\"" "$TMP/${to}_init/step_000000/config.toml" || fail "$to: config.toml names another mixer"
  # Fine-tune from the converted parameters: the first loss is the converted model's, far
  # below a fresh model's ln(259) = 5.56 since embeddings and MLPs come from the teacher.
  # The converted checkpoint's config.toml is the student's whole run config.
  "$BIN" train "$TMP/${to}_init/step_000000/config.toml" --set train.steps=10 --init-from "$TMP/${to}_init" \
    --out "$TMP/${to}_ft" --quiet > "$TMP/ft_$to.log"
  grep -q "^trained 10 steps" "$TMP/ft_$to.log" || fail "$to fine-tune: $(cat "$TMP/ft_$to.log")"
  python3 - "$TMP/${to}_ft/metrics.jsonl" <<'PY' || fail "$to: the fine-tune did not start from the teacher"
import json, sys
first = json.loads(open(sys.argv[1]).readline())
assert first["loss"] < 5.0, first
PY
  "$BIN" eval "$TMP/${to}_ft" --lengths 16,64 --max-tokens 128 > "$TMP/eval_$to.log" || fail "$to eval"
  "$BIN" generate "$TMP/${to}_ft" --prompt "The model" --max-new 20 > "$TMP/gen_$to.log" || fail "$to generate"
done

# A fresh run whose model is not the checkpoint's names the first missing parameter.
expect_error "parameter 'blocks.0.mixer.wg.weight' of the configured model is missing" \
  "$BIN" train "$TMP/teacher.toml" --set model.mixer.name=dijiang --init-from "$TMP/teacher" --out "$TMP/bad" --quiet
expect_error "has shape" \
  "$BIN" train "$TMP/retention_init/step_000000/config.toml" --set model.d_model=48 \
  --init-from "$TMP/retention_init" --out "$TMP/bad2" --quiet
expect_error "conversion starts from a softmax checkpoint" \
  "$BIN" convert "$TMP/dijiang_ft" --to retention --out "$TMP/bad3"
expect_error "--to must be dijiang or retention" "$BIN" convert "$TMP/teacher" --to mamba --out "$TMP/bad4"
echo "convert e2e: ok"
