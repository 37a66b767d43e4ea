#!/bin/bash
# Issue 16, captioning: a second Show, Attend and Tell cross-entropy run (seed 2, otherwise the config of the first,
# runs/flickr8k_sat_xe: issue 15's XE run), then both and their ensemble on the Flickr8k test split, beam 3 and 5,
# with <unk> allowed in every system as the first run decoded. Run from the repository root on the CPU;
# `run.sh evaluate` skips the training.
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH"
out=docs/runs/flickr8k_sat_ensemble_cpu
[ "${1:-}" = evaluate ] || captra fit -c runs/flickr8k_sat_xe/version_0/config.yaml --seed_everything 2 \
    --trainer.default_root_dir runs/flickr8k_sat_xe_seed2 --trainer.enable_progress_bar false
a=runs/flickr8k_sat_xe/version_0/checkpoints/best-epoch04-step2345-cider48.19.ckpt
b=$(ls runs/flickr8k_sat_xe_seed2/version_0/checkpoints/best-*.ckpt)
for beam in 3 5; do
  python benchmarks/ensemble_decoding.py --beam $beam --batch-size 100 --allow-unk true \
      --system "$a" --system "$b" --system "$a+$b" > $out/beam$beam.json
done
cp runs/flickr8k_sat_xe_seed2/version_0/metrics.csv $out/seed2_metrics.csv
cp runs/flickr8k_sat_xe_seed2/version_0/config.yaml $out/seed2_config.yaml
