#!/usr/bin/env bash
# The quickstart (README's first command, after setup): prepare the default corpus, train
# a byte-level model for a few minutes, evaluate it from its training length to 16x it,
# sample a paragraph, write an HTML report (attnlab compare), and print a small table.
#   bash scripts/quickstart.sh [RUN_DIR]     (default runs/quickstart)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-runs/quickstart}"
BIN=./build/release/attnlab
[ -x "$BIN" ] || { echo "[quickstart] error: $BIN not built; run scripts/setup.sh first" >&2; exit 1; }
# One thread pool that sleeps when idle (specs/machine.md #7).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

bash scripts/prepare_corpus.sh
echo "[quickstart] training configs/quickstart.toml into $RUN"
start=$(date +%s)
"$BIN" train configs/quickstart.toml --out "$RUN"
trained=$(date +%s)
echo "[quickstart] evaluating from the training length (256) to 16x it"
"$BIN" eval "$RUN" --lengths 256,512,1024,2048,4096 --max-tokens 16384 --json "$RUN/eval.json"
echo "[quickstart] a sample (temperature 0.8, seed 1):"
"$BIN" generate "$RUN" --prompt "The standard library" --max-new 400 --temperature 0.8 --seed 1
echo "[quickstart] report: training curve, perplexity against length, attention diagnostics"
"$BIN" compare "$RUN" --out "$RUN/report" --lengths 256,1024,4096 --no-retrieval
echo "[quickstart] open $RUN/report/index.html (or read $RUN/report/README.md)"
done_at=$(date +%s)
python3 - "$RUN/eval.json" "$((trained - start))" "$((done_at - start))" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
print(f"\n[quickstart] train {sys.argv[2]} s, total {sys.argv[3]} s")
print(f"{'length':>8} {'x train':>8} {'bits/byte':>10} {'sliding':>10}")
for r in doc["results"]:
    print(f"{r['length']:>8} {r['length'] / doc['train_seq_len']:>8.0f} "
          f"{r['non_overlapping']['bits_per_byte']:>10.3f} {r['sliding']['bits_per_byte']:>10.3f}")
PY
