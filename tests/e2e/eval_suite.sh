#!/usr/bin/env bash
# The long-context evaluation suite end to end on a tiny model: a task corpus (lines) that
# `attnlab train` reads, `task eval` with its table, JSON, CSV and heatmap, `diagnose` with
# needle weights and plots, and `compare` of two runs (HTML + Markdown). When Chromium is
# installed the HTML page is rendered headless and the screenshot must not be blank.
#   bash tests/e2e/eval_suite.sh path/to/attnlab
set -euo pipefail
BIN="$1"
TMP="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
export ATTNLAB_THREADS=2
source "$(dirname "$0")/lib.sh"

# A lines corpus: one example per document, the format of the task.
"$BIN" task corpus lines --out "$TMP/lines" --length 160 --min-length 100 --examples 60 --val-examples 8 \
  --header short > /dev/null
[ -e "$TMP/lines/meta.json" ] || fail "task corpus wrote no meta.json"
"$BIN" task show lines --length 160 --header short --seed 3 > "$TMP/show.txt" 2> "$TMP/show.err"
grep -q 'REGISTER_CONTENT is <' "$TMP/show.txt" || fail "task show: $(cat "$TMP/show.txt")"
grep -q 'prompt tokens' "$TMP/show.err" || fail "task show summary: $(cat "$TMP/show.err")"

write_config "$TMP/a.toml" "$TMP/lines" 6 "seq_len = 160"
sed 's/position = "rope"/position = "alibi"/' "$TMP/a.toml" > "$TMP/b.toml"
"$BIN" train "$TMP/a.toml" --out "$TMP/run_a" --quiet > /dev/null
"$BIN" train "$TMP/b.toml" --out "$TMP/run_b" --quiet > /dev/null

"$BIN" task eval "$TMP/run_b" --task lines --lengths 100,200 --depths 0,1 --trials 2 --header short \
  --set model.mixer.alibi_scaling=ntk --set model.mixer.alibi_factor=2 \
  --json "$TMP/t.json" --csv "$TMP/t.csv" --heatmap "$TMP/t.svg" --needle-attention > "$TMP/t.log"
grep -q 'task lines --set model.mixer.alibi_scaling=ntk' "$TMP/t.log" || fail "task eval table: $(cat "$TMP/t.log")"
"$BIN" diagnose "$TMP/run_a" --lengths 128,200 --windows 2 --task passkey --header short --depths 0.5 --trials 1 \
  --json "$TMP/d.json" --csv "$TMP/d.csv" --plot-dir "$TMP/dplots" > "$TMP/d.log"
[ -e "$TMP/dplots/norm_entropy_by_position.svg" ] || fail "diagnose plots: $(ls "$TMP/dplots")"

python3 - "$TMP" <<'PY' || fail "task eval / diagnose outputs"
import csv, json, sys
import xml.etree.ElementTree as ET
tmp = sys.argv[1]
doc = json.load(open(f"{tmp}/t.json"))
cells = doc["cells"]
assert [(c["length"], c["depth"]) for c in cells] == [(100, 0), (100, 1), (200, 0), (200, 1)], cells
for c in cells:
    assert c["trials"] == 2 and 0 <= c["correct"] <= 2 and c["mean_prompt_tokens"] <= c["length"], c
    assert len(c["needle_weight"]) == 2 and all(0 <= w <= 1 + 1e-9 for l in c["needle_weight"] for w in l), c
rows = list(csv.DictReader(open(f"{tmp}/t.csv")))
assert len(rows) == 4 and rows[0]["task"] == "lines", rows
ET.parse(f"{tmp}/t.svg")
d = json.load(open(f"{tmp}/d.json"))
assert [x["length"] for x in d["lengths"]] == [128, 200]
for x in d["lengths"]:
    assert len(x["heads"]) == 4  # 2 layers x 2 heads
    for h in x["heads"]:
        e = h["all"]["norm_entropy"]
        assert 0 <= e <= 1 + 1e-9, h
        assert 1 <= h["all"]["span"] <= x["length"], h
assert d["needle"]["task"] == "passkey"
for f in ("norm_entropy_by_position", "span_by_length", "sparsity_by_length"):
    ET.parse(f"{tmp}/dplots/{f}.svg")
PY

# A mixer setting the tasks cannot run on is one line of error.
expect_error "task 'needle' is not one of passkey, lines, topics" "$BIN" task eval "$TMP/run_a" --task needle --lengths 64
expect_error "--depths '2': '2' is not a number in [0, 1]" "$BIN" task eval "$TMP/run_a" --lengths 64 --depths 2

"$BIN" compare "$TMP/run_a" "$TMP/run_b" --out "$TMP/report" --lengths 64,128,200 --trials 1 --windows 1 \
  --max-tokens 400 --data "$TMP/lines" > "$TMP/c.log" 2> /dev/null
for f in index.html README.md summary.json figures/perplexity.svg figures/metric_loss.svg; do
  [ -s "$TMP/report/$f" ] || fail "compare: no $f ($(ls "$TMP/report" "$TMP/report/figures"))"
done
python3 - "$TMP/report" <<'PY' || fail "compare outputs"
import json, re, sys
from html.parser import HTMLParser
d = sys.argv[1]
html = open(f"{d}/index.html").read()
assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", ""), "not self-contained"
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.svgs = 0; self.diff_rows = 0
    def handle_starttag(self, tag, attrs):
        if tag == "svg": self.svgs += 1
        if tag == "tr" and ("class", "diff") in attrs: self.diff_rows += 1
p = P(); p.feed(html)
assert p.svgs >= 6, p.svgs
assert p.diff_rows >= 1, "the runs differ in model.mixer.position"
md = open(f"{d}/README.md").read()
assert md.count("![") == p.svgs, (md.count("!["), p.svgs)
assert "| **model.mixer.position** | **\"rope\"** | **\"alibi\"** |" in md, md[:2000]
s = json.load(open(f"{d}/summary.json"))
assert sorted(s) == ["run_a", "run_b"], list(s)
for run in s.values():
    # 64 tokens cannot hold a passkey prompt: left out of retrieval only.
    assert sorted({c["length"] for c in run["retrieval"]}) == [128, 200], run["retrieval"]
    assert [p["length"] for p in run["perplexity"]] == [64, 128, 200], run["perplexity"]
    assert [d["length"] for d in run["diagnostics"]] == [64, 128, 200]
PY

# Headless Chromium renders the page; the screenshot must hold more than one colour.
CHROME="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$CHROME" ]; then
  echo "eval_suite: chromium not installed, skipping the screenshot check"
  exit 0
fi
timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,2400 \
  --screenshot="$TMP/shot.png" "file://$TMP/report/index.html" > /dev/null 2>&1 || true
[ -s "$TMP/shot.png" ] || fail "chromium wrote no screenshot"
python3 - "$TMP/shot.png" <<'PY' || fail "screenshot is blank"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, w, h, ctype = 8, b"", 0, 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]; pos += 12 + n
    if kind == b"IHDR": w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    if kind == b"IDAT": idat += body
raw = zlib.decompress(idat)
bpp = {2: 3, 6: 4}[ctype]
stride = w * bpp + 1
# Count distinct raw scanline bytes over a sample of rows (filters aside, a blank page
# gives very few distinct values); and the dark pixels of unfiltered rows.
distinct = set()
for y in range(0, h, max(1, h // 200)):
    distinct.update(raw[y * stride + 1:(y + 1) * stride:7])
assert len(distinct) > 20, f"only {len(distinct)} distinct byte values: blank page?"
print(f"screenshot {w}x{h}, {len(distinct)} distinct values")
PY
echo "eval_suite: screenshot $TMP/shot.png is not blank"
