#!/usr/bin/env bash
# Bad input end to end (DESIGN.md convention 9): each mistake a user can make with a config,
# a checkpoint, a corpus or a flag gives a non-zero exit and exactly one line on stderr that
# names what is wrong and where; and a failed command leaves no half-written output.
#   bash tests/e2e/bad_input.sh path/to/attnlab
set -euo pipefail
BIN="$(realpath "$1")"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export ATTNLAB_THREADS=2
source "$(dirname "$0")/lib.sh"
cd "$TMP"  # short relative paths in the messages we match

make_corpus corpus
write_config tiny.toml corpus/prepared 6 "warmup = 2"
sed 's/^n_layers = 2$/n_layers = 2\nmax_seq_len = 32/' tiny.toml > limited.toml
"$BIN" train limited.toml --out run --quiet > /dev/null
CKPT=run/step_000006
[ -s "$CKPT/model.safetensors" ] || fail "the tiny run wrote no checkpoint"
# A copy of the good checkpoint to break in one way; prints its folder.
broken() { rm -rf "$1"; cp -r "$CKPT" "$1"; }

# ---- configs ----
expect_error "cannot open 'missing.toml' for reading" "$BIN" train missing.toml --out x
# The attention kernel set forced by the environment (kernels/cpu/attention_tiles.h).
expect_error "ATTNLAB_KERNELS=avx9: unknown kernel set (expected avx512, avx2 or scalar; this CPU supports: " \
  env ATTNLAB_KERNELS=avx9 "$BIN" list
ATTNLAB_KERNELS=scalar "$BIN" --version | grep -qF "attention tiles scalar (run-time choice of" ||
  fail "--version does not name the forced kernel set"
printf '[model]\nd_model = = 32\n' > malformed.toml
expect_error "malformed.toml:2:11: TOML syntax error" "$BIN" train malformed.toml --out x
sed 's/^d_model = 32$/d_modle = 32/' tiny.toml > typo.toml
expect_error "typo.toml:2:1: unknown key 'model.d_modle' (did you mean 'model.d_model'?)" "$BIN" train typo.toml --out x
expect_error "--set train.lr: expected key=value" "$BIN" train tiny.toml --set train.lr --out x
expect_error "--set train.lr=fast: train.lr: expected a number, found a string \"fast\"" \
  "$BIN" train tiny.toml --set train.lr=fast --out x
expect_error "--set train.lrr=1: unknown key 'train.lrr' (did you mean 'train.lr'?)" \
  "$BIN" train tiny.toml --set train.lrr=1 --out x
expect_error "--set model.d_model=-3: model.d_model = -3: must be > 0" "$BIN" train tiny.toml --set model.d_model=-3 --out x
expect_error "--set train.seq_len=64: train.seq_len = 64: must be at most model.max_seq_len" \
  "$BIN" train limited.toml --set train.seq_len=64 --out x
expect_error "--resume: 'fresh' holds no checkpoint" "$BIN" train tiny.toml --out fresh --resume
[ ! -e x ] || fail "a failed train left its output folder behind"

# ---- checkpoints ----
broken mismatch
sed -i 's/^d_model = 32$/d_model = 48/' mismatch/config.toml
expect_error "mismatch/model.safetensors: tensor 'embed.weight' has shape [259, 32], mismatch/config.toml gives [259, 48]" \
  "$BIN" eval mismatch --lengths 8
broken truncated
head -c 20000 "$CKPT/model.safetensors" > truncated/model.safetensors
expect_error "truncated/model.safetensors: tensor 'embed.weight': data_offsets [0, 33152] run past the end of the data buffer" \
  "$BIN" generate truncated --prompt "The"
head -c 100 "$CKPT/model.safetensors" > truncated/model.safetensors
expect_error "truncated/model.safetensors: header length" "$BIN" generate truncated --prompt "The"
: > truncated/model.safetensors
expect_error "truncated/model.safetensors: not a safetensors file: 0 bytes" "$BIN" generate truncated --prompt "The"
broken corrupt
python3 - corrupt/model.safetensors <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[8:16] = b'{"embed\x00'  # a NUL inside the first tensor name
open(p, "wb").write(b)
PY
expect_error "corrupt/model.safetensors: invalid JSON in the header" "$BIN" eval corrupt --lengths 8
python3 - corrupt/model.safetensors <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[0:8] = (10**12).to_bytes(8, "little")  # a header length far past the end of the file
open(p, "wb").write(b)
PY
expect_error "corrupt/model.safetensors: header length 1000000000000 runs past the end of the file" \
  "$BIN" eval corrupt --lengths 8
expect_error "checkpoint 'nowhere' does not exist" "$BIN" generate nowhere --prompt "The"
mkdir -p notackpt
expect_error "'notackpt' is not a checkpoint: expected model.safetensors in it" "$BIN" generate notackpt --prompt "The"

# ---- corpora ----
mkdir -p empty_text/sub
: > empty_text/a.txt; : > empty_text/sub/b.txt
expect_error "data prepare: empty corpus: all 2 files in inputs empty_text are empty" \
  "$BIN" data prepare --input empty_text --out empty_out
[ ! -e empty_out/meta.json ] || fail "a failed data prepare left meta.json behind"

# ---- lengths beyond what the model supports, and bad flags ----
expect_error "eval --lengths 64 needs a sequence of 64 tokens, longer than model.max_seq_len = 32 in $CKPT/config.toml" \
  "$BIN" eval run --lengths 16,64 --max-tokens 256 --json eval.json
[ ! -e eval.json ] || fail "a failed eval wrote its JSON"
expect_error "generate: the prompt (3 tokens) with --max-new 40 needs a sequence of 42 tokens, longer than model.max_seq_len = 32" \
  "$BIN" generate run --prompt "The" --max-new 40
[ ! -s err.out ] || fail "generate printed before refusing: $(cat err.out)"
expect_error "--lengths '8,x': 'x' is not a positive integer" "$BIN" eval run --lengths 8,x
expect_error "--lengths '8,-16': '-16' is not a positive integer" "$BIN" eval run --lengths 8,-16
expect_error "--lengths is empty" "$BIN" eval run --lengths ''

# ---- forward: bad tokens, and no half-written output ----
echo "84 104 banana" > words.txt
expect_error "words.txt: token 2 is 'banana', expected an integer id" "$BIN" forward run --tokens words.txt --out logits.st
[ ! -e logits.st ] || fail "a failed forward left logits.st behind"
echo "84 104 999" > big.txt
expect_error "big.txt: token 2 = 999 is outside the vocabulary [0, 259)" "$BIN" forward run --tokens big.txt --out logits.st
seq 1 40 > long.txt
expect_error "forward --tokens long.txt needs a sequence of 40 tokens, longer than model.max_seq_len = 32" \
  "$BIN" forward run --tokens long.txt --out logits.st
[ ! -e logits.st ] || fail "a failed forward left logits.st behind"
# A failed forward over an existing output leaves it as it was.
echo "84 104 101" > good.txt
"$BIN" forward run --tokens good.txt --out logits.st > /dev/null
cp logits.st before.st
expect_error "words.txt: token 2 is 'banana'" "$BIN" forward run --tokens words.txt --out logits.st
cmp -s logits.st before.st || fail "a failed forward changed the existing logits.st"
expect_error "cannot write 'no/such/folder/logits.st'" "$BIN" forward run --tokens good.txt --out no/such/folder/logits.st
[ -z "$(find . -name '*.tmp*' -print -quit)" ] || fail "temporary files left behind: $(find . -name '*.tmp*')"

echo "bad input end-to-end: ok"
