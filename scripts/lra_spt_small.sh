#!/usr/bin/env bash
# Self-pretraining vs training from scratch at the same number of steps, small scale
# (docs/LRA.md, docs/RESULTS.md).
# Usage: scripts/lra_spt_small.sh listops|pathfinder32 [OUT] [MIXERS (default "softmax deer_rnn")]
# Generates the task if missing, then trains softmax and deer_rnn twice each: from scratch
# for S steps, and S/2 self-pretraining steps + S/2 fine-tuning steps. Prints one line per
# run: task mixer mode best_val test seconds.
set -euo pipefail
task=$1
out=${2:-runs/lra-spt}
mixers=${3:-softmax deer_rnn}
bin=${ATTNLAB:-build/release/attnlab}
threads=${THREADS:-1}
export OMP_WAIT_POLICY=PASSIVE
case $task in
  listops)
    data=data/lra/listops-small
    [ -f $data/basic_test.tsv ] || $bin lra generate --task listops --out $data --train 4000 --val 500 --test 500 \
      --min-length 20 --max-length 100 --seed 1
    cfg=configs/lra/listops-small.toml; S=200; extra=() ;;
  pathfinder32)
    data=data/lra/pathfinder32-small
    [ -f $data/test.bin ] || $bin lra generate --task pathfinder32 --out $data --train 2000 --val 250 --test 250 --seed 1
    cfg=configs/lra/pathfinder32-small.toml; S=60
    extra=(--set lra.batch_size=8 --set lra.val_examples=100 --set lra.eval_every=30 --set lra.warmup=6) ;;
  *) echo "usage: $0 listops|pathfinder32 [OUT]" >&2; exit 2 ;;
esac
# deer_rnn trains with its recurrent form here: the same model as the parallel (Newton)
# form (tested equal), and the faster one on a 2-core CPU (docs/BENCHMARKS.md, deer_rnn).
mkdir -p $out
for mixer in $mixers; do
  mset=(--set model.mixer.name=$mixer)
  [ $mixer = deer_rnn ] && mset+=(--set lra.form=recurrent)
  for mode in scratch spt; do
    if [ $mode = scratch ]; then steps=(--set lra.steps=$S --set lra.pretrain_steps=0)
    else steps=(--set lra.steps=$((S / 2)) --set lra.pretrain_steps=$((S / 2))); fi
    dir=$out/$task-$mixer-$mode
    nice -n 5 $bin --threads $threads lra train $cfg "${mset[@]}" "${steps[@]}" "${extra[@]}" --out $dir > $dir.log 2>&1 \
      || { echo "$task $mixer $mode FAILED (see $dir.log)"; continue; }
    echo "$task $mixer $mode $(tail -1 $dir.log)"
  done
done
