#!/usr/bin/env bash
# `attnlab bench train|decode|mixers|attention` end to end at toy sizes: each prints its
# runtime header (kernels, BLAS, threads) and one result line per case in the
# "<suite> <case> key=value" format bench/peers/compare.py reads; bad input fails with
# one line.   bash tests/e2e/bench_commands.sh path/to/attnlab
set -euo pipefail
BIN="$(realpath "$1")"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
source "$(dirname "$0")/lib.sh"
cd "$TMP"

"$BIN" --version > version.txt
grep -q "^kernels: .*BLAS: core .*thread(s)" version.txt || fail "--version names no kernel set, BLAS or threads"

"$BIN" bench train --config tiny --layers 1 --batch 2 --seq-len 16 --vocab 64 --steps 1 > train.txt
grep -q "^# kernels: .*BLAS: core" train.txt || fail "bench train has no runtime header"
line="$(grep '^train tiny ' train.txt)" || fail "bench train printed no result line"
for key in tokens/s= mfu_sgemm= mfu_peak= sgemm_GFLOP/s= peak_MiB= fresh_blocks/step=0.00; do
  [[ "$line" == *" $key"* ]] || fail "bench train's line lacks $key: $line"
done

"$BIN" bench decode --config tiny --vocab 64 --contexts 24,8 --tokens 2 --clock cpu > decode.txt
[ "$(grep -c '^decode softmax ctx=' decode.txt)" = 2 ] || fail "bench decode: expected 2 softmax lines"
grep -q '^decode softmax ctx=8 .*state_bytes/token=' decode.txt || fail "bench decode: contexts not sorted"
# The KV cache holds 2 (K and V) x 6 layers x 256 floats per token, in buffers that grow
# by doubling: between 12288 and twice that many bytes per token held.
per_token="$(sed -n 's/^decode softmax ctx=24 .*state_bytes\/token=\([0-9]*\)$/\1/p' decode.txt)"
[[ -n "$per_token" ]] && (( per_token >= 12288 && per_token <= 2 * 12288 )) \
  || fail "bench decode: KV-cache bytes per token outside [12288, 24576]: $(cat decode.txt)"

"$BIN" bench mixers --mixers softmax --lengths 32,48 --d-model 32 --heads 2 --repeats 0 > mixers.txt
[ "$(grep -c '^mixer softmax fwd\(+bwd\)\? T=' mixers.txt)" = 4 ] || fail "bench mixers: expected 4 lines"
"$BIN" bench attention --lengths 40 --heads 2 --head-dim 8 --repeats 0 > attention.txt
grep -q '^attention fwd+bwd T=40 ms=.* GFLOP/s=' attention.txt || fail "bench attention printed no fwd+bwd line"

expect_error "bench: unknown config 'huge' (known: tiny, gpt2-small)" "$BIN" bench train --config huge
expect_error "unknown mixer 'nosuch'" "$BIN" bench mixers --mixers nosuch
echo "bench commands: ok"
