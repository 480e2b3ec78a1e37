#!/usr/bin/env bash
# Evaluation sweeps over several checkpoints: `attnlab eval A B --csv --plot --json` scores
# both step folders of one tiny run, writes one CSV row per checkpoint and length, a JSON
# object keyed by checkpoint, and an SVG with one line per checkpoint.
#   bash tests/e2e/eval_sweep.sh path/to/attnlab
set -euo pipefail
BIN="$1"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export ATTNLAB_THREADS=2
source "$(dirname "$0")/lib.sh"

make_corpus "$TMP/corpus"
write_config "$TMP/tiny.toml" "$TMP/corpus/prepared" 20 "checkpoint_every = 10"
"$BIN" train "$TMP/tiny.toml" --out "$TMP/run" --quiet > /dev/null
A="$TMP/run/step_000010" B="$TMP/run/step_000020"

"$BIN" eval "$A" "$B" --lengths 8,16,32 --max-tokens 128 \
  --json "$TMP/sweep.json" --csv "$TMP/sweep.csv" --plot "$TMP/sweep.svg" > "$TMP/eval.log"
# The table of each checkpoint, one after the other.
[ "$(grep -c '^checkpoint ' "$TMP/eval.log")" -eq 2 ] || fail "expected two tables: $(cat "$TMP/eval.log")"
[ "$(grep -Ec '^ +(8|16|32) \| ' "$TMP/eval.log")" -eq 6 ] || fail "expected six rows: $(cat "$TMP/eval.log")"

# A step folder given twice is refused before anything is written.
expect_error "which is already evaluated" "$BIN" eval "$B" "$TMP/./run" --lengths 8 --max-tokens 64 --csv "$TMP/dup.csv"
[ ! -e "$TMP/dup.csv" ] || fail "a refused eval wrote its CSV"

# Without sliding windows the sliding columns are empty, and the plot still draws.
"$BIN" eval "$B" --lengths 8,16 --max-tokens 64 --no-sliding --csv "$TMP/plain.csv" --plot "$TMP/plain.svg" > /dev/null

# PNG: rendered through rsvg-convert (scripts/setup.sh installs librsvg2-bin).
if command -v rsvg-convert > /dev/null; then
  "$BIN" eval "$B" --lengths 8,16 --max-tokens 64 --no-sliding --plot "$TMP/plain.png" > /dev/null
  [ "$(head -c 8 "$TMP/plain.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "--plot .png is not a PNG"
fi

python3 - "$TMP" "$A" "$B" <<'PY' || fail "eval sweep outputs"
import csv, json, math, re, sys
import xml.etree.ElementTree as ET
tmp, a, b = sys.argv[1:]
header = ("checkpoint,length,train_seq_len,loss,ppl,bits_per_byte,"
          "sliding_loss,sliding_ppl,sliding_bits_per_byte,stride")
text = open(f"{tmp}/sweep.csv").read()
assert text.splitlines()[0] == header, text.splitlines()[0]
rows = list(csv.DictReader(open(f"{tmp}/sweep.csv")))
assert [(r["checkpoint"], int(r["length"])) for r in rows] == [(c, L) for c in (a, b) for L in (8, 16, 32)], rows
for r in rows:
    assert r["train_seq_len"] == "32" and int(r["stride"]) == int(r["length"]) // 2, r
    for k in ("", "sliding_"):
        loss, ppl = float(r[k + "loss"]), float(r[k + "ppl"])
        assert math.isfinite(loss) and 0 < loss < 5.6 and abs(ppl - math.exp(loss)) < 1e-6 * ppl, r
        assert float(r[k + "bits_per_byte"]) > 0, r

doc = json.load(open(f"{tmp}/sweep.json"))
assert sorted(doc) == sorted([a, b]), list(doc)
for c in (a, b):
    d = doc[c]
    assert d["checkpoint"] == c and d["train_seq_len"] == 32 and [r["length"] for r in d["results"]] == [8, 16, 32]
    for r, row in zip(d["results"], [x for x in rows if x["checkpoint"] == c]):
        assert abs(r["sliding"]["ppl"] - float(row["sliding_ppl"])) < 1e-6 * r["sliding"]["ppl"], (r, row)
# Ten more steps of training lower the perplexity at the training length.
assert doc[b]["results"][2]["non_overlapping"]["loss"] < doc[a]["results"][2]["non_overlapping"]["loss"]

svg = ET.parse(f"{tmp}/sweep.svg").getroot()  # well-formed XML, or this raises
ns = "{http://www.w3.org/2000/svg}"
lines = svg.findall(f".//{ns}polyline")
assert len(lines) == 2, f"{len(lines)} polylines"
for line in lines:
    xs = [float(p.split(",")[0]) for p in line.get("points").split()]
    assert len(xs) == 3 and xs[0] < xs[1] < xs[2], xs
    assert abs((xs[2] - xs[1]) - (xs[1] - xs[0])) < 0.05, xs  # log2 axis: doublings equally spaced
texts = [t.text for t in svg.iter(f"{ns}text")]
assert a in texts and b in texts, texts
assert len(svg.findall(f".//{ns}line[@class='train-length']")) == 2

plain = list(csv.DictReader(open(f"{tmp}/plain.csv")))
assert len(plain) == 2 and all(r["sliding_loss"] == "" and r["stride"] == "" for r in plain), plain
assert len(ET.parse(f"{tmp}/plain.svg").getroot().findall(f".//{ns}polyline")) == 1
print(f"sweep: {len(rows)} csv rows, 2 series")
PY
echo "eval sweep with --csv, --json and --plot: ok"
