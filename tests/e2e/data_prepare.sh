#!/usr/bin/env bash
# End-to-end test of `attnlab data`: writes a tiny corpus into a temporary folder, prepares
# it with the byte tokenizer and with a freshly trained SentencePiece model, and checks the
# outputs and the errors a user would see.
#   bash tests/e2e/data_prepare.sh path/to/attnlab
set -euo pipefail
BIN="$1"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- a corpus: 12 documents in nested folders, one non-ASCII, one empty, one filtered out ----
mkdir -p "$TMP/corpus/sub/deeper"
for i in $(seq 1 10); do
  for j in $(seq 1 40); do
    echo "Line $j of document $i: the model attends to every token; values are mixed by softmax weights."
  done > "$TMP/corpus/doc$i.txt"
done
printf 'caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\n' > "$TMP/corpus/sub/unicode.txt"
printf 'deep document\n' > "$TMP/corpus/sub/deeper/deep.txt"
: > "$TMP/corpus/sub/empty.txt"
echo "not text" > "$TMP/corpus/notes.md"

# ---- byte tokenizer ----
"$BIN" data prepare --input "$TMP/corpus" --pattern '*.txt' --out "$TMP/out" --val-fraction 0.25 --seed 7 \
  > "$TMP/prepare.log"
for f in train.tok val.tok meta.json; do [ -s "$TMP/out/$f" ] || fail "missing $f"; done
grep -q '"spec": "byte"' "$TMP/out/meta.json" || fail "meta.json lacks the tokenizer spec"
grep -q 'skipped    1 empty files' "$TMP/prepare.log" || fail "the empty file was not reported: $(cat "$TMP/prepare.log")"
grep -q 'notes.md' "$TMP/out/meta.json" && fail "--pattern did not filter notes.md"

# Byte tokens = bytes + one EOS per document, and 12 documents in all.
"$BIN" data info "$TMP/out" > "$TMP/info.log"
tokens=$(awk '{s += $2} END {print s}' "$TMP/info.log")
docs=$(awk '{s += $4} END {print s}' "$TMP/info.log")
bytes=$(cat "$TMP"/corpus/*.txt "$TMP"/corpus/sub/*.txt "$TMP"/corpus/sub/deeper/*.txt | wc -c)
[ "$docs" -eq 12 ] || fail "expected 12 documents, info says $docs: $(cat "$TMP/info.log")"
[ "$tokens" -eq $((bytes + 12)) ] || fail "expected $((bytes + 12)) tokens, info says $tokens"
grep -q 'val.tok: .* 0 documents' "$TMP/info.log" && fail "empty validation split"

# Deterministic: the same command gives the same bytes.
"$BIN" data prepare --input "$TMP/corpus" --pattern '*.txt' --out "$TMP/again" --val-fraction 0.25 --seed 7 >/dev/null
for f in train.tok val.tok; do cmp -s "$TMP/out/$f" "$TMP/again/$f" || fail "$f differs between two identical runs"; done

# ---- SentencePiece: train, then prepare with it ----
"$BIN" data tokenizer --input "$TMP/corpus" --pattern '*.txt' --vocab-size 300 --out "$TMP/tok/spm" > "$TMP/tok.log"
[ -s "$TMP/tok/spm.model" ] && [ -s "$TMP/tok/spm.vocab" ] || fail "tokenizer files missing"
"$BIN" data prepare --input "$TMP/corpus" --pattern '*.txt' --out "$TMP/spm_out" --tokenizer "spm:$TMP/tok/spm.model" \
  >/dev/null
grep -q "\"spec\": \"spm:$TMP/tok/spm.model\"" "$TMP/spm_out/meta.json" || fail "meta.json lacks the spm spec"
"$BIN" data info "$TMP/spm_out/train.tok" | grep -q 'vocabulary 300' || fail "spm token file has the wrong vocabulary"
spm_tokens=$("$BIN" data info "$TMP/spm_out" | awk '{s += $2} END {print s}')
[ "$spm_tokens" -lt "$tokens" ] || fail "BPE ($spm_tokens tokens) should be shorter than bytes ($tokens)"

# ---- errors: one line, non-zero exit, naming what is wrong ----
expect_error() {  # expect_error "substring" command...
  local want="$1"; shift
  if "$@" > "$TMP/err.out" 2> "$TMP/err.log"; then fail "expected failure: $*"; fi
  grep -qF -- "$want" "$TMP/err.log" || fail "expected '$want' in: $(cat "$TMP/err.log")"
  [ "$(wc -l < "$TMP/err.log")" -eq 1 ] || fail "expected one line of error: $(cat "$TMP/err.log")"
}
mkdir -p "$TMP/nothing"
expect_error "empty corpus: no files found in inputs $TMP/nothing" "$BIN" data prepare --input "$TMP/nothing" --out "$TMP/x"
expect_error "all 1 files in inputs $TMP/corpus/sub/empty.txt are empty" \
  "$BIN" data prepare --input "$TMP/corpus/sub/empty.txt" --out "$TMP/x"
expect_error "tokenizer spec 'gpt2': expected 'byte' or 'spm:PATH'" \
  "$BIN" data prepare --input "$TMP/corpus" --out "$TMP/x" --tokenizer gpt2
expect_error "model file $TMP/none.model does not exist" \
  "$BIN" data prepare --input "$TMP/corpus" --out "$TMP/x" --tokenizer "spm:$TMP/none.model"
expect_error "input $TMP/missing does not exist" "$BIN" data prepare --input "$TMP/missing" --out "$TMP/x"
expect_error "cannot create output folder $TMP/corpus/doc1.txt" \
  "$BIN" data prepare --input "$TMP/corpus" --out "$TMP/corpus/doc1.txt"
head -c 100 "$TMP/out/train.tok" > "$TMP/cut.tok"
expect_error "token file $TMP/cut.tok: truncated" "$BIN" data info "$TMP/cut.tok"
[ ! -e "$TMP/x/meta.json" ] || fail "a failed prepare left meta.json behind"
echo "data prepare end-to-end: ok ($docs documents, $tokens byte tokens, $spm_tokens BPE tokens)"
