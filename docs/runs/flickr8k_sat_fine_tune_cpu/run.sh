#!/bin/bash
# Issue 15: the fine-tuned encoder row on the CPU - two epochs of configs/captioning/flickr8k_fine_tune.yaml (the
# CNN's last 2 blocks trained at 1e-4, images decoded and augmented every step) started from the SAT cross-entropy
# run's weights (runs/flickr8k_sat_xe, frozen encoder, best val CIDEr-D 48.19 at epoch 4), step checkpoints every
# 50 steps (the run was stopped once and resumed with `--ckpt_path last`); then both on the Flickr8k test split,
# beam 3 and 5, <unk> forbidden as in the SCST table. Run from the repository root; `run.sh evaluate` skips training.
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH"
out=docs/runs/flickr8k_sat_fine_tune_cpu
xe=runs/flickr8k_sat_xe/version_0/checkpoints/best-epoch04-step2345-cider48.19.ckpt
[ "${1:-}" = evaluate ] || captra fit -c configs/captioning/base.yaml -c configs/captioning/flickr8k_fine_tune.yaml \
    --model.init_from $xe --model.search.allow_unk true --trainer.max_epochs 2 \
    --step_checkpoint.every_n_train_steps 50 --trainer.log_every_n_steps 10 --trainer.enable_progress_bar false \
    --trainer.default_root_dir runs/flickr8k_sat_fine_tune
tuned=$(ls runs/flickr8k_sat_fine_tune/version_0/checkpoints/best-*.ckpt)
for beam in 3 5; do
  python benchmarks/ensemble_decoding.py --beam $beam --batch-size 100 --allow-unk false \
      --system "$xe" --system "$tuned" > $out/beam$beam.json
done
cp runs/flickr8k_sat_fine_tune/version_0/metrics.csv $out/metrics.csv
cp runs/flickr8k_sat_fine_tune/version_0/config.yaml $out/config.yaml
