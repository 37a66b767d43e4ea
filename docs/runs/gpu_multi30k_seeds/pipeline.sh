#!/usr/bin/env bash
# Issue 16 on the lent GPU: the full-size Multi30k configs, 4 seeds x 2 directions trained at the same time on
# one GPU (early stopping on validation BLEU, the 4 best checkpoints kept), then each run's top-4 average, and
# singles / averages / ensembles of 2 and 4 scored on test_2016_flickr (beam 5; beam 10 with the length penalty
# tuned on val for the best single and the ensemble of the averages).
#
# Run from the repository root with Multi30k in $DATA (default .gpu/multi30k) and the wheels the machine lacks in .whl/.
# Writes everything to $RESULTS (default .gpu/results) and touches $RESULTS/DONE at the end.
#   TRAIN_TIME  wall-clock cap of each training (Lightning's --trainer.max_time), default 00:00:15:00
#   DEVICE      decoding device of the evaluation, default cuda
#   EXTRA       extra `captra fit` arguments; SEEDS the seeds (default "1 2 3 4")
set -u
RESULTS=${RESULTS:-.gpu/results}
TRAIN_TIME=${TRAIN_TIME:-00:00:15:00}
DEVICE=${DEVICE:-cuda}
EXTRA=${EXTRA:-}
SEEDS=${SEEDS:-"1 2 3 4"}
DATA=${DATA:-.gpu/multi30k}
mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

fit() {  # direction seed
  local run=$1_seed$2
  captra fit -c configs/translation/base.yaml -c configs/translation/multi30k_$1.yaml \
    --data.data_dir $DATA --seed_everything $2 --data.seed $2 --checkpoint.save_top_k 4 \
    --trainer.max_time $TRAIN_TIME --trainer.enable_progress_bar false --trainer.default_root_dir runs/$run $EXTRA \
    > "$RESULTS/$run.fit.log" 2>&1
  echo "$run fit exit $? at $(date +%T)" >> "$RESULTS/progress.txt"
}

by_val() {  # direction: the runs' best checkpoints, best validation BLEU first
  for seed in $SEEDS; do
    ls runs/$1_seed$seed/version_0/checkpoints/best-*.ckpt | sed 's/.*-bleu\(.*\)\.ckpt$/\1 &/' | sort -g | tail -n 1
  done | sort -g -r | cut -d' ' -f2
}

evaluate() {  # direction
  local d=$1 singles averages
  singles=($(by_val $d))
  averages=()
  for ckpt in "${singles[@]}"; do
    local average=$(dirname $ckpt)/average-top4.ckpt
    captra average $(dirname $ckpt)/best-*.ckpt --out $average >> "$RESULTS/$d.average.log" 2>&1
    averages+=($average)
  done
  local s=("${singles[@]}") a=("${averages[@]}")
  local bench="python3 benchmarks/ensemble_decoding.py --device $DEVICE --beam 5"
  $bench ${s[@]/#/--system } > "$RESULTS/$d.beam5_singles.json" 2> "$RESULTS/$d.beam5_singles.log" &
  $bench ${a[@]/#/--system } > "$RESULTS/$d.beam5_averages.json" 2> "$RESULTS/$d.beam5_averages.log" &
  $bench --system "${s[0]}+${s[1]}" --system "$(IFS=+; echo "${s[*]}")" \
    > "$RESULTS/$d.beam5_ensembles.json" 2> "$RESULTS/$d.beam5_ensembles.log" &
  $bench --system "${a[0]}+${a[1]}" --system "$(IFS=+; echo "${a[*]}")" \
    > "$RESULTS/$d.beam5_ensembles_of_averages.json" 2> "$RESULTS/$d.beam5_ensembles_of_averages.log" &
  python3 benchmarks/ensemble_decoding.py --device $DEVICE --beam 10 --tune-length-penalty 0,0.5,1,1.5 \
    --system "${s[0]}" --system "$(IFS=+; echo "${a[*]}")" \
    > "$RESULTS/$d.beam10_tuned.json" 2> "$RESULTS/$d.beam10_tuned.log" &
  wait
}

echo "start $(date +%T)" >> "$RESULTS/progress.txt"
for d in en_de de_en; do for seed in $SEEDS; do fit $d $seed & done; done
wait
for d in en_de de_en; do for seed in $SEEDS; do
  cp runs/${d}_seed$seed/version_0/metrics.csv "$RESULTS/${d}_seed$seed.metrics.csv"
  cp runs/${d}_seed$seed/version_0/config.yaml "$RESULTS/${d}_seed$seed.config.yaml"
  ls runs/${d}_seed$seed/version_0/checkpoints >> "$RESULTS/${d}_seed$seed.checkpoints.txt"
done; done
echo "evaluate $(date +%T)" >> "$RESULTS/progress.txt"
evaluate en_de & evaluate de_en &
wait
echo "done $(date +%T)" >> "$RESULTS/progress.txt"
touch "$RESULTS/DONE"
