#!/usr/bin/env bash
# Training recipes end to end (issue 9):
#  - WSD-S: decayed checkpoints at every budget, kept whatever keep_checkpoints says; the
#    rate at floor before a budget and back at peak after it; extending a run with later
#    budgets continues it bitwise; a crash in the middle of a decay resumes bitwise;
#  - update diagnostics in metrics.jsonl (they never change the trajectory);
#  - EMO: the ce-equal loss's first value is the cross-entropy's; a frozen checkpoint head
#    as the cost embedding; bad EMO and WSD-S keys are one-line errors.
#   bash tests/e2e/wsds.sh path/to/attnlab
set -euo pipefail
BIN="$(realpath "$1")"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export ATTNLAB_THREADS=2
source "$(dirname "$0")/lib.sh"
cd "$TMP"

make_corpus corpus
# peak 1e-2, floor 1e-3, warmup 5; budgets 8, 16, 24 with 2-step decays (a quarter of each cycle).
write_config wsds.toml corpus/prepared 24 'schedule = "wsd-s"' 'decay_checkpoints = [8, 16, 24]' \
  'decay_fraction = 0.25' 'checkpoint_every = 7' 'keep_checkpoints = 2' 'diagnostics_every = 4'

# "step loss grad_norm lr" per line, as the exact text metrics.jsonl holds (after step FROM).
losses() {
  python3 - "$1" "${2:-0}" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    step = re.search(r'"step":(\d+)', line)
    values = [re.search(rf'"{k}":([^,}}]*)', line) for k in ("loss", "grad_norm", "lr")]
    if step and all(values) and int(step.group(1)) > int(sys.argv[2]):
        print(step.group(1), *(v.group(1) for v in values))
PY
}
# same_run A B WHAT [FROM]: the same losses after step FROM and the same final checkpoints.
same_run() {
  local a="$1" b="$2" what="$3" from="${4:-0}" f d
  [ "$(losses "$b/metrics.jsonl" "$from" | wc -l)" -eq $((24 - from)) ] || fail "$what: not every step was logged"
  diff <(losses "$a/metrics.jsonl" "$from") <(losses "$b/metrics.jsonl" "$from") > diff.txt \
    || fail "$what: losses differ:"$'\n'"$(cat diff.txt)"
  [ "$(cat "$a/latest")" = "$(cat "$b/latest")" ] || fail "$what: latest differs"
  for d in decayed_000016 decayed_000024; do
    for f in model.safetensors train_state.safetensors; do
      cmp -s "$a/$d/$f" "$b/$d/$f" || fail "$what: $d/$f differs from the uninterrupted run's"
    done
  done
}

"$BIN" train wsds.toml --out full --quiet > /dev/null
for d in decayed_000008 decayed_000016 decayed_000024 step_000014 step_000021; do
  [ -s "full/$d/model.safetensors" ] || fail "full run: no $d/model.safetensors ($(ls full | tr '\n' ' '))"
done
[ ! -e full/step_000007 ] || fail "keep_checkpoints = 2 should have pruned step_000007"
[ "$(cat full/latest)" = decayed_000024 ] || fail "latest is $(cat full/latest), expected decayed_000024"
python3 - full/metrics.jsonl <<'PY' || fail "full run: rates or diagnostics are not as planned"
import json, math, sys
rows = {r["step"]: r for r in map(json.loads, open(sys.argv[1]))}
lr = {s: r["lr"] for s, r in rows.items()}
def near(a, b): return math.isclose(a, b, rel_tol=1e-12)
# steps done 7, 8 decay (x = 1/2, 1); 9 is back at the peak; the same before 16 and 24.
for budget in (8, 16, 24):
    assert near(lr[budget - 1], 1e-2 * (0.1 + 0.9 * 0.5)), (budget, lr[budget - 1])
    assert near(lr[budget], 1e-3), (budget, lr[budget])
    assert rows[budget].get("decayed") is True and "val_loss" in rows[budget], rows[budget]
    assert near(lr[budget - 2], 1e-2), (budget, lr[budget - 2])
for s in (9, 17): assert near(lr[s], 1e-2), (s, lr[s])
for s in (4, 8, 12, 16, 20, 24):
    r = rows[s]
    for k in ("upd_cos_grad", "upd_W_grad", "upd_cos_prev", "upd_W_prev", "upd_ratio", "upd_cos_grad.mixer",
              "upd_ratio.embed"):
        assert k in r, (s, k, sorted(r))
    assert abs(r["upd_cos_grad"]) <= r["upd_W_grad"] + 1e-12 and r["upd_W_grad"] <= 1 + 1e-12, r
    assert abs(r["upd_cos_prev"]) <= r["upd_W_prev"] + 1e-12, r
    assert 0 < r["upd_ratio"] < 1, r
assert "upd_cos_grad" not in rows[5]
PY

# ---- the diagnostics only read: the same run without them is the same trajectory ----
"$BIN" train wsds.toml --set train.diagnostics_every=0 --out nodiag --quiet > /dev/null
! grep -q upd_cos nodiag/metrics.jsonl || fail "diagnostics_every = 0 still logged diagnostics"
same_run full nodiag "without diagnostics"

# ---- extending: budgets 8, 16 in a 16-step run, then resumed with the 24-step plan ----
"$BIN" train wsds.toml --set train.steps=16 --set 'train.decay_checkpoints=[8, 16]' --out ext --quiet > /dev/null
[ "$(cat ext/latest)" = decayed_000016 ] || fail "the 16-step run did not end at decayed_000016"
cp -r ext/step_000007 crash_source  # for the crash below (its first 16 steps are the full run's)
"$BIN" train wsds.toml --out ext --resume --quiet > /dev/null
same_run full ext "wsd-s extended by a budget"

# ---- a crash in the middle of the first decay (after step 7 of 6..8) ----
mkdir crash
cp -r crash_source crash/step_000007
echo step_000007 > crash/latest
"$BIN" train wsds.toml --out crash --resume --quiet > /dev/null
same_run full crash "wsd-s resumed in the middle of a decay" 7

# ---- EMO ----
write_config ce.toml corpus/prepared 3 'warmup = 1'
write_config emo.toml corpus/prepared 3 'warmup = 1' 'loss = "emo"'
"$BIN" train ce.toml --out ce --quiet > /dev/null
"$BIN" train emo.toml --out emo_self --quiet > /dev/null
"$BIN" train emo.toml --set train.emo_head=full/decayed_000024 --set train.emo_mode=emo-emphasised \
  --out emo_frozen --quiet > /dev/null
python3 - ce/metrics.jsonl emo_self/metrics.jsonl emo_frozen/metrics.jsonl <<'PY' || fail "EMO losses"
import json, math, sys
first = [json.loads(open(f).readline()) for f in sys.argv[1:]]
ce, emo, frozen = (r["loss"] for r in first)
# ce-equal: the value is the cross-entropy (up to eps and float32 rounding)
assert math.isclose(ce, emo, rel_tol=1e-5), (ce, emo)
# emo-emphasised: 2 DEMD, which lies in [0, 4] and is not the cross-entropy
assert 0 <= frozen <= 4 and not math.isclose(frozen, ce, rel_tol=1e-3), frozen
for f in sys.argv[1:]:
    rows = [json.loads(l) for l in open(f)]
    assert all(math.isfinite(r["loss"]) for r in rows) and "val_loss" in rows[-1], f
PY
expect_error "train.emo_head = 'nowhere'" "$BIN" train emo.toml --set train.emo_head=nowhere --out bad
expect_error "train.emo_mode" "$BIN" train emo.toml --set train.emo_mode=emo2 --out bad
expect_error 'needs train.decay_checkpoints' "$BIN" train ce.toml --set 'train.schedule=wsd-s' --out bad
expect_error 'train.decay_checkpoints entry 1 = 30 is past train.steps = 24' \
  "$BIN" train wsds.toml --set 'train.decay_checkpoints=[8, 30]' --out bad

echo "wsd-s, diagnostics and EMO end to end: ok"
