# Shared helpers of the end-to-end tests: sourced by each script after it has set BIN and TMP.
# Each test builds its own tiny corpus and config in its own temporary folder, so the tests
# run in parallel and need nothing outside the build.

# Spinning OpenMP workers slow small steps several-fold, and on a loaded machine by 100x
# (specs/machine.md #7); waiting passively changes no result.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

fail() { echo "FAIL: $*" >&2; exit 1; }

# make_corpus DIR: eight documents of English-like prose, prepared into DIR/prepared.
# Sentences are drawn by a fixed LCG from a small pool, so every document differs but the
# text has the regularities (frequent words, punctuation, capitals) a byte model learns
# within a few dozen steps.
make_corpus() {
  local dir="$1"
  mkdir -p "$dir/text"
  local sentences=(
    "The model reads the text one token at a time and predicts the next one."
    "Attention lets every position look back at the positions before it."
    "A small network can learn the shape of words long before it learns their meaning."
    "When the learning rate is too high, the loss rises instead of falling."
    "Each layer mixes information across time and then transforms it in place."
    "The validation text is never used for training, so it measures what was learned."
    "Long documents are cut into windows, and each window becomes one example."
    "She opened the book, read the first page, and closed it again with a smile."
    "In the morning the river was quiet, and the boats waited by the old stone bridge."
    "Numbers such as 12, 256 and 1024 appear in the tables at the end of the chapter."
  )
  local seed=7 d i
  for d in 1 2 3 4 5 6 7 8; do
    for i in $(seq 1 24); do
      seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
      printf '%s ' "${sentences[$(( seed / 65536 % ${#sentences[@]} ))]}"
      if (( i % 4 == 0 )); then printf '\n\n'; fi
    done > "$dir/text/doc$d.txt"
  done
  "$BIN" data prepare --input "$dir/text" --out "$dir/prepared" --val-fraction 0.25 --seed 3 > /dev/null
}

# write_config FILE CORPUS STEPS [KEY = VALUE ...]: the tiny model of every e2e test. The extra
# lines go into [train], replacing the defaults of the same keys.
write_config() {
  local file="$1" corpus="$2" steps="$3"; shift 3
  local defaults=("seq_len = 32" "batch_size = 4" "steps = $steps" "lr = 1e-2" "lr_floor = 1e-3" "warmup = 5"
                  "eval_every = 0" "eval_windows = 8" "log_every = 1")
  local line extra
  {
    cat <<TOML
[model]
d_model = 32
n_layers = 2

[model.mixer]
name = "softmax"
heads = 2
position = "rope"

[data]
path = "$corpus"

[train]
TOML
    for line in "${defaults[@]}"; do
      for extra in "$@"; do [ "${extra%% *}" = "${line%% *}" ] && continue 2; done
      echo "$line"
    done
    for line in "$@"; do echo "$line"; done
  } > "$file"
}

# expect_error "substring" command...: a non-zero exit and exactly one line on stderr holding it.
expect_error() {
  local want="$1"; shift
  if "$@" > "$TMP/err.out" 2> "$TMP/err.log"; then fail "expected failure: $*"; fi
  grep -qF -- "$want" "$TMP/err.log" || fail "expected '$want' in: $(cat "$TMP/err.log")"
  [ "$(wc -l < "$TMP/err.log")" -eq 1 ] || fail "expected one line of error, got: $(cat "$TMP/err.log")"
}

