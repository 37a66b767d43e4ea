#!/usr/bin/env bash
# Issue 27 on a lent GPU: grapheme-to-phoneme without stress, 4 seeds of the base config (1 x 256 BiLSTM encoder)
# and 4 of a 2 x 512 encoder (g2p-seq2seq's size) trained at the same time on one GPU to early stopping on
# validation WER (or TRAIN_TIME); then every run's best checkpoint and four ensembles scored on the validation
# split, and the system with the lowest validation WER scored on test beside the best single model (beam 5).
#
# Run from the repository root with captra importable (start.sh installs it). Writes everything to $RESULTS
# (default .gpu/results) and touches $RESULTS/DONE at the end.
#   TRAIN_TIME   wall-clock cap of each training (Lightning's --trainer.max_time), default 00:00:06:00
#   BATCH, LR    training batch and Adam's learning rate, default 256 and 0.002 (the CPU runs: 128 and 0.001)
#   ACCELERATOR  gpu (default) or cpu; DEVICE the decoding device of the reports, cuda or cpu
#   SEEDS        default "1 2 3 4"; EXTRA more `captra fit` arguments for every run
set -u
RESULTS=${RESULTS:-.gpu/results}
TRAIN_TIME=${TRAIN_TIME:-00:00:06:00}
BATCH=${BATCH:-256}
LR=${LR:-0.002}
ACCELERATOR=${ACCELERATOR:-gpu}
DEVICE=${DEVICE:-cuda}
SEEDS=${SEEDS:-"1 2 3 4"}
EXTRA=${EXTRA:-}
mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
WIDE="--model.init_args.encoder.num_layers 2 --model.init_args.encoder.hidden_size 512"

fit() {  # run-name seed [overrides...]
  local run=$1 seed=$2; shift 2
  captra fit -c configs/g2p/base.yaml --trainer.accelerator $ACCELERATOR --seed_everything $seed --data.seed $seed \
    --data.batch_size $BATCH --model.init_args.optimizer.lr $LR --trainer.max_epochs 60 \
    --trainer.max_time $TRAIN_TIME --trainer.enable_progress_bar false --trainer.default_root_dir runs/$run \
    "$@" $EXTRA > "$RESULTS/$run.fit.log" 2>&1
  echo "$run fit exit $? at $(date +%T)" >> "$RESULTS/progress.txt"
}

by_wer() {  # checkpoint paths on stdin, lowest validation WER first (the WER is in the file name)
  sed 's/.*-wer\(.*\)\.ckpt$/\1 &/' | sort -g | cut -d' ' -f2
}

best() { ls runs/$1/version_0/checkpoints/best-*.ckpt | by_wer | head -n 1; }  # run-name: its best checkpoint

joined() { local IFS=+; echo "$*"; }  # checkpoints... -> one ensemble argument

echo "start $(date +%T)" >> "$RESULTS/progress.txt"
runs=()
for seed in $SEEDS; do
  fit base_seed$seed $seed & runs+=(base_seed$seed)
  fit wide_seed$seed $seed $WIDE & runs+=(wide_seed$seed)
done
wait
base=() wide=()
for run in "${runs[@]}"; do
  cp runs/$run/version_0/metrics.csv "$RESULTS/$run.metrics.csv"
  cp runs/$run/version_0/config.yaml "$RESULTS/$run.config.yaml"
  ls runs/$run/version_0/checkpoints > "$RESULTS/$run.checkpoints.txt"
  case $run in base_*) base+=($(best $run));; wide_*) wide+=($(best $run));; esac
done
# The four singles best on validation (by the WER in their names), then the candidates' validation report.
best4=($(printf '%s\n' "${base[@]}" "${wide[@]}" | by_wer | head -n 4))
candidates=("${base[@]}" "${wide[@]}" "$(joined "${base[@]}")" "$(joined "${wide[@]}")" "$(joined "${best4[@]}")"
            "$(joined "${base[@]}" "${wide[@]}")")
echo "evaluate $(date +%T)" >> "$RESULTS/progress.txt"
captra report ${candidates[@]/#/--ckpt } --split val --device $DEVICE --out "$RESULTS/val" > "$RESULTS/val.log" 2>&1
# The lowest validation WER among all candidates, and among the single checkpoints: both go on to test.
read -r single chosen < <(python3 - "$RESULTS/val/metrics.json" <<'PY'
import json, sys
systems = json.load(open(sys.argv[1]))["checkpoints"]
lowest = lambda rows: min(rows, key=lambda s: (s["scores"]["wer"], s["scores"]["per"]))["path"]  # PER breaks ties
print(lowest([s for s in systems if "+" not in s["path"]]), lowest(systems))
PY
)
echo "chosen on validation: single $single, system $chosen" >> "$RESULTS/progress.txt"
test_systems=("$single"); [ "$chosen" = "$single" ] || test_systems+=("$chosen")
captra report ${test_systems[@]/#/--ckpt } --split test --device $DEVICE --out "$RESULTS/test" \
  > "$RESULTS/test.log" 2>&1
echo "done $(date +%T)" >> "$RESULTS/progress.txt"
touch "$RESULTS/DONE"
