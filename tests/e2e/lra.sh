#!/usr/bin/env bash
# attnlab lra end to end: generate tiny ListOps and Pathfinder-32 tasks (the same seed
# writes the same files), train a tiny classifier with a few self-pretraining steps,
# evaluate the saved run, and the one-line errors of bad input.
#   bash tests/e2e/lra.sh path/to/attnlab
set -euo pipefail
BIN="$(realpath "$1")"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export ATTNLAB_THREADS=2
source "$(dirname "$0")/lib.sh"
cd "$TMP"

"$BIN" lra generate --task listops --out lo --train 40 --val 10 --test 10 --min-length 8 --max-length 30 > /dev/null
"$BIN" lra generate --task listops --out lo2 --train 40 --val 10 --test 10 --min-length 8 --max-length 30 > /dev/null
cmp lo/basic_train.tsv lo2/basic_train.tsv || fail "the same seed wrote different ListOps files"
[ "$(wc -l < lo/basic_test.tsv)" -eq 11 ] || fail "expected a header and 10 test lines"
grep -q '\[MIN\|\[MAX\|\[MED\|\[SM' lo/basic_train.tsv || fail "no operators in the ListOps source"
"$BIN" lra generate --task pathfinder32 --out pf --train 6 --val 2 --test 2 > /dev/null
[ "$(stat -c %s pf/train.bin)" -eq $((24 + 6 * 1025)) ] || fail "pathfinder32 train.bin has the wrong size"

"$BIN" lra train --set lra.data=lo --set model.d_model=16 --set model.n_layers=1 --set lra.steps=4 \
  --set lra.pretrain_steps=3 --set lra.batch_size=4 --set lra.eval_every=2 --set lra.pooling=last \
  --out run > train.log
grep -q "pretrain step" train.log || fail "no self-pretraining steps were logged"
grep -q "best val_acc .* test_acc" train.log || fail "no final accuracy line: $(cat train.log)"
[ -s run/model.safetensors ] && [ -s run/config.toml ] || fail "the run folder is incomplete"
"$BIN" lra eval run --split val | grep -q "listops val accuracy" || fail "lra eval printed no accuracy"
"$BIN" lra train --set lra.task=pathfinder32 --set lra.data=pf --set model.d_model=16 --set model.n_layers=1 \
  --set model.mixer.name=deer_rnn --set lra.steps=2 --set lra.batch_size=2 --out runpf > /dev/null

expect_error "lra: unknown task 'listopz'" "$BIN" lra generate --task listopz --out x
expect_error "lra: cannot open nowhere/basic_train.tsv" "$BIN" lra train --set lra.data=nowhere --out x
expect_error "unknown key 'lra.pooling_mode'" "$BIN" lra train --set lra.pooling_mode=max --out x
expect_error "model.vocab_size = 99 but task listops has 16 tokens" "$BIN" lra train --set lra.data=lo \
  --set model.vocab_size=99 --out x
[ ! -e x ] || fail "a failed lra train left its output folder behind"
echo "lra e2e ok"
