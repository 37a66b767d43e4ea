#!/usr/bin/env bash
# The classification runs of docs/RESULTS.md, on one CPU core, one training process at a time:
#   (a) SST-2 (sentence-level labels, no pretrained vectors): a BiLSTM with max pooling, seeds 1-3, and one
#       attention-pooling run (seed 1); each run's best checkpoint (validation accuracy) scored on the test split.
#   (b) Tomita grammars 1-7 x cells rnn (Elman's SRN), gru, lstm (hidden 32, pooling last; seeds 1-3, or those of
#       TOMITA_SEEDS; up to 150 epochs, stopped once validation is 100 % right): test lengths 11-50.
# Usage: docs/runs/classification_cpu/run.sh [OUT]   (OUT default runs/classification; then summarize.py OUT)
set -euo pipefail
OUT=${1:-runs/classification}
CORE=${CORE:-1}
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
captra() { taskset -c "$CORE" python -m captra "$@"; }
fit_and_report() {  # NAME ARGS...: train into $OUT/NAME, then report its best checkpoint on the test split
  local name=$1; shift
  [[ -f "$OUT/$name/report/metrics.json" ]] && return 0  # done by an earlier invocation
  rm -rf "${OUT:?}/$name"
  local start=$SECONDS
  captra fit "$@" --trainer.default_root_dir "$OUT/$name" --trainer.enable_progress_bar false > "$OUT/$name.log" 2>&1
  local best
  best=$(ls "$OUT/$name"/version_0/checkpoints/best-*.ckpt | head -1)
  captra report --ckpt "$best" --split test --device cpu --out "$OUT/$name/report" >> "$OUT/$name.log" 2>&1
  echo "$name $((SECONDS - start)) s" | tee -a "$OUT/times.txt"
}
SST=(-c configs/classification/base.yaml --trainer.accelerator cpu --trainer.max_time 00:00:08:00)
if [[ "${PART:-all}" != tomita ]]; then
  for seed in 1 2 3; do
    fit_and_report "sst2_bilstm_max_seed$seed" "${SST[@]}" --seed_everything "$seed" --data.seed "$seed"
  done
  fit_and_report sst2_bilstm_attention_seed1 "${SST[@]}" --seed_everything 1 --data.seed 1 \
    --model.classifier.pooling attention
fi
if [[ "${PART:-all}" != sst2 ]]; then
  for seed in ${TOMITA_SEEDS:-1 2 3}; do
    for grammar in 1 2 3 4 5 6 7; do
      for cell in rnn gru lstm; do
        fit_and_report "tomita${grammar}_${cell}_seed$seed" -c configs/tomita/base.yaml --data.grammar "$grammar" \
          --model.encoder.cell "$cell" --seed_everything "$seed" --trainer.max_time 00:00:05:00
      done
    done
  done
fi
