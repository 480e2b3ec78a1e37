#!/usr/bin/env bash
# Prepares the default corpus: the reStructuredText sources of the Python documentation
# (Debian package python3-doc; PSF License Agreement, code examples also Zero-Clause BSD),
# 497 files / 11 MB for Python 3.11, tokenised into data/python-docs/{train,val}.tok.
#
# Idempotent: skips when data/python-docs/meta.json exists (prepare writes it last, so it
# marks a complete folder) and records the same tokenizer. FORCE=1 prepares again.
#   bash scripts/prepare_corpus.sh
#   TOKENIZER=spm:data/py8k.model OUT=data/python-docs-spm bash scripts/prepare_corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${ATTNLAB:-build/release/attnlab}"
OUT="${OUT:-data/python-docs}"
TOKENIZER="${TOKENIZER:-byte}"
SEED="${SEED:-1234}"
VAL_FRACTION="${VAL_FRACTION:-0.05}"

say() { printf '[corpus] %s\n' "$*"; }

# The package links its version-specific folder here, so this path survives Python upgrades.
SOURCES="${SOURCES:-/usr/share/doc/python3-doc/html/_sources}"
if [ ! -d "$SOURCES" ]; then
  echo "[corpus] error: $SOURCES not found: install the Debian package python3-doc (bash scripts/setup.sh)" >&2
  exit 1
fi
[ -x "$BIN" ] || { echo "[corpus] error: $BIN not built: run bash scripts/setup.sh" >&2; exit 1; }

if [ "${FORCE:-0}" != 1 ] && [ -f "$OUT/meta.json" ] && grep -qF "\"spec\": \"$TOKENIZER\"" "$OUT/meta.json"; then
  say "$OUT is already prepared (tokenizer $TOKENIZER); FORCE=1 to redo"
  exit 0
fi

say "tokenising $SOURCES (*.rst.txt) into $OUT with tokenizer $TOKENIZER"
"$BIN" data prepare --input "$SOURCES" --pattern '*.rst.txt' --out "$OUT" \
  --tokenizer "$TOKENIZER" --val-fraction "$VAL_FRACTION" --seed "$SEED"
