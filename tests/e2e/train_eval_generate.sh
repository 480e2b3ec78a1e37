#!/usr/bin/env bash
# End-to-end test of the whole path a user takes: data prepare -> train -> eval -> generate
# -> forward, on a tiny corpus and a tiny model the script writes into a temporary folder.
#   bash tests/e2e/train_eval_generate.sh path/to/attnlab
set -euo pipefail
BIN="$1"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export ATTNLAB_THREADS=2
source "$(dirname "$0")/lib.sh"

make_corpus "$TMP/corpus"
STEPS=40
write_config "$TMP/tiny.toml" "$TMP/corpus/prepared" $STEPS "checkpoint_every = 20" "schedule = \"cosine\""

# ---- train: the loss falls and the checkpoint folder has its documented layout ----
"$BIN" train "$TMP/tiny.toml" --out "$TMP/run" --quiet > "$TMP/train.log"
grep -q "^trained $STEPS steps" "$TMP/train.log" || fail "train summary: $(cat "$TMP/train.log")"
[ "$(wc -l < "$TMP/run/metrics.jsonl")" -eq $STEPS ] || fail "expected $STEPS metrics lines (log_every = 1)"
first=$(head -n 1 "$TMP/run/metrics.jsonl")
last=$(tail -n 1 "$TMP/run/metrics.jsonl")
python3 - "$first" "$last" $STEPS <<'PY' || fail "metrics.jsonl: loss did not fall"
import json, sys
a, b, steps = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
for k in ("step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s"):
    assert k in a and k in b, f"metrics line lacks '{k}': {a}"
assert a["step"] == 1 and b["step"] == steps, (a["step"], b["step"])
assert "val_loss" in b, "the last step carries the validation loss"
# A byte model starts near ln(259) = 5.56 nats; 40 steps on repetitive prose must cut it well down.
assert b["loss"] < a["loss"] - 1.0, f"loss {a['loss']} -> {b['loss']}"
print(f"loss {a['loss']:.3f} -> {b['loss']:.3f}, val {b['val_loss']:.3f}")
PY
[ "$(cat "$TMP/run/latest")" = "step_000040" ] || fail "latest is '$(cat "$TMP/run/latest")'"
for s in step_000020 step_000040; do
  for f in model.safetensors config.toml train_state.safetensors; do
    [ -s "$TMP/run/$s/$f" ] || fail "checkpoint $s lacks $f"
  done
done
ls -A "$TMP/run" | grep -q '\.tmp\.' && fail "a temporary checkpoint folder was left behind: $(ls -A "$TMP/run")"
VOCAB=$(sed -n 's/^vocab_size = \([0-9]*\)$/\1/p' "$TMP/run/step_000040/config.toml")
[ "$VOCAB" = 259 ] || fail "config.toml should record the byte vocabulary 259, has '$VOCAB'"
# The training length that ALiBi scaling and log-n scaling read at evaluation is recorded too.
for key in alibi_original_length attn_original_length; do
  grep -q "^$key = 32$" "$TMP/run/step_000040/config.toml" || fail "config.toml should record $key = 32 (train.seq_len)"
done
"$BIN" eval "$TMP/run" --lengths 16,64 --max-tokens 128 --set model.mixer.attn_scale=logn > "$TMP/eval_logn.log" ||
  fail "eval with attn_scale=logn: $(cat "$TMP/eval_logn.log")"
grep -Eq "^ +64 \| " "$TMP/eval_logn.log" || fail "no row for length 64 with logn: $(cat "$TMP/eval_logn.log")"

# ---- eval: one row per length on stdout, and valid JSON with the expected keys ----
"$BIN" eval "$TMP/run" --lengths 8,16,32 --max-tokens 256 --json "$TMP/eval.json" > "$TMP/eval.log"
for L in 8 16 32; do
  grep -Eq "^ +$L \| +[0-9.]+ +[0-9.]+ +[0-9.]+ \| +[0-9.]+ " "$TMP/eval.log" || fail "no row for length $L: $(cat "$TMP/eval.log")"
done
python3 - "$TMP/eval.json" <<'PY' || fail "eval JSON"
import json, math, sys
doc = json.load(open(sys.argv[1]))
for k in ("checkpoint", "train_seq_len", "sets", "form", "results"):
    assert k in doc, f"missing '{k}'"
assert doc["train_seq_len"] == 32 and doc["form"] == "parallel"
assert [r["length"] for r in doc["results"]] == [8, 16, 32]
for r in doc["results"]:
    for kind in ("non_overlapping", "sliding"):
        s = r[kind]
        for k in ("loss", "ppl", "bits_per_byte", "tokens", "bytes"):
            assert k in s, f"{kind} lacks '{k}'"
        assert math.isfinite(s["loss"]) and 0 < s["loss"] < 5.6, s
        assert abs(s["ppl"] - math.exp(s["loss"])) < 1e-6 * s["ppl"], s
        assert s["tokens"] > 0 and s["bytes"] > 0
    assert r["stride"] == r["length"] // 2 and r["seconds"] >= 0
PY

# The recurrent form (one query at a time against the KV cache) scores the same text alike.
"$BIN" eval "$TMP/run" --lengths 16 --max-tokens 128 --no-sliding --json "$TMP/par.json" > /dev/null
"$BIN" eval "$TMP/run" --lengths 16 --max-tokens 128 --no-sliding --form recurrent --json "$TMP/rec.json" > /dev/null
python3 - "$TMP/par.json" "$TMP/rec.json" <<'PY' || fail "eval: the recurrent form disagrees with the parallel one"
import json, sys
par, rec = (json.load(open(f))["results"][0]["non_overlapping"] for f in sys.argv[1:])
assert par["tokens"] == rec["tokens"] == 128, (par, rec)
assert abs(par["loss"] - rec["loss"]) < 1e-5, (par["loss"], rec["loss"])
PY

# RoPE scalings at evaluation: the trainer recorded L_train in the checkpoint, yarn runs
# from the command line and changes the score, and under dynamic NTK (which re-rotates the
# KV cache) the recurrent form still scores like the parallel one beyond L_train = 32.
grep -q "^rope_original_length = 32$" "$TMP/run/step_000040/config.toml" ||
  fail "config.toml should record rope_original_length = 32 (train.seq_len)"
"$BIN" eval "$TMP/run" --lengths 64 --max-tokens 128 --no-sliding --json "$TMP/plain64.json" > /dev/null
"$BIN" eval "$TMP/run" --lengths 64 --max-tokens 128 --no-sliding --json "$TMP/yarn64.json" \
  --set model.mixer.rope_scaling=yarn --set model.mixer.rope_factor=8 > /dev/null || fail "eval with yarn"
for form in parallel recurrent; do
  "$BIN" eval "$TMP/run" --lengths 64 --max-tokens 128 --no-sliding --form $form --json "$TMP/dyn_$form.json" \
    --set model.mixer.rope_scaling=dynamic_ntk --set model.mixer.rope_factor=2 > /dev/null || fail "eval with dynamic_ntk ($form)"
done
python3 - "$TMP/plain64.json" "$TMP/yarn64.json" "$TMP/dyn_parallel.json" "$TMP/dyn_recurrent.json" <<'PY' || fail "eval with RoPE scalings"
import json, math, sys
plain, yarn, dpar, drec = (json.load(open(f))["results"][0]["non_overlapping"] for f in sys.argv[1:])
assert math.isfinite(yarn["loss"]) and yarn["tokens"] == plain["tokens"] == 128, (plain, yarn)
assert abs(yarn["loss"] - plain["loss"]) > 1e-6, (plain["loss"], yarn["loss"])
assert abs(dpar["loss"] - drec["loss"]) < 1e-5, (dpar["loss"], drec["loss"])
assert abs(dpar["loss"] - plain["loss"]) > 1e-6, (plain["loss"], dpar["loss"])
print(f"rope scalings at 64: plain {plain['loss']:.4f} yarn {yarn['loss']:.4f} dynamic_ntk {dpar['loss']:.4f}/{drec['loss']:.4f}", file=sys.stderr)
PY

# ---- generate: the prompt, then text; the same seed gives the same text ----
PROMPT="The model reads"
gen() { "$BIN" generate "$TMP/run" --prompt "$PROMPT" --max-new 48 "$@"; }
gen --seed 11 > "$TMP/gen1.txt"
gen --seed 11 > "$TMP/gen2.txt"
[ "$(head -c ${#PROMPT} "$TMP/gen1.txt")" = "$PROMPT" ] || fail "generate does not start with the prompt: $(cat "$TMP/gen1.txt")"
[ "$(wc -c < "$TMP/gen1.txt")" -gt $(( ${#PROMPT} + 1 )) ] || fail "generate added no text: $(cat "$TMP/gen1.txt")"
cmp -s "$TMP/gen1.txt" "$TMP/gen2.txt" || fail "generate with one seed differs between runs"
# Greedy decoding ignores the seed.
gen --temperature 0 --seed 1 > "$TMP/greedy1.txt"
gen --temperature 0 --seed 2 > "$TMP/greedy2.txt"
cmp -s "$TMP/greedy1.txt" "$TMP/greedy2.txt" || fail "greedy decoding depends on the seed"

# ---- forward: logits [T, V] in a safetensors file; recurrent and ref forms agree with parallel ----
printf '%s' "Attention lets every position look back." | od -An -tu1 -v > "$TMP/tokens.txt"
T=$(wc -w < "$TMP/tokens.txt")
for form in parallel recurrent ref; do
  "$BIN" forward "$TMP/run" --tokens "$TMP/tokens.txt" --out "$TMP/logits_$form.safetensors" --form $form > /dev/null
done
python3 - "$TMP" "$T" "$VOCAB" <<'PY' || fail "forward logits"
import json, math, struct, sys
tmp, T, V = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def load(path):
    """A minimal safetensors reader: 8-byte little-endian header length, JSON header, data."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        fmt = {"F32": "f", "I32": "i"}[e["dtype"]]
        count = math.prod(e["shape"])
        assert end - b == 4 * count, (name, e)
        out[name] = (e["shape"], struct.unpack(f"<{count}{fmt}", data[b:end]))
    return header, out

header, par = load(f"{tmp}/logits_parallel.safetensors")
assert header["__metadata__"]["form"] == "parallel", header["__metadata__"]
assert par["logits"][0] == [T, V], f"logits shape {par['logits'][0]}, expected {[T, V]}"
assert par["tokens"][0] == [T]
assert all(math.isfinite(x) for x in par["logits"][1])
for form in ("recurrent", "ref"):
    _, other = load(f"{tmp}/logits_{form}.safetensors")
    assert other["tokens"] == par["tokens"]
    worst = max(abs(a - b) for a, b in zip(par["logits"][1], other["logits"][1]))
    assert worst < 1e-4, f"{form} logits differ from parallel by {worst}"
    print(f"forward {form} vs parallel: max |diff| {worst:.2e}")
PY
echo "train -> eval -> generate -> forward end-to-end: ok"
