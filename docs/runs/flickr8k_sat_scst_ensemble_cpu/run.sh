#!/bin/bash
# Issue 15: an ensemble of two SAT + SCST models. The second SAT cross-entropy run (seed 2, issue 16:
# docs/runs/flickr8k_sat_ensemble_cpu) gets the 4 SCST epochs the first one got (configs/captioning/flickr8k_scst.yaml,
# which forbids bad endings), then both SCST models and their ensemble are decoded on the Flickr8k test split,
# beam 3 and 5, <unk> forbidden as in the SCST table. Run from the repository root on the CPU;
# `run.sh evaluate` skips the training.
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH"
out=docs/runs/flickr8k_sat_scst_ensemble_cpu
xe2=$(ls runs/flickr8k_sat_xe_seed2/version_0/checkpoints/best-*.ckpt)
[ "${1:-}" = evaluate ] || captra fit -c configs/captioning/base.yaml -c configs/captioning/flickr8k_scst.yaml \
    --model.init_from "$xe2" --model.search.allow_unk true --seed_everything 2 --trainer.max_epochs 4 \
    --trainer.default_root_dir runs/flickr8k_sat_scst_seed2 --trainer.log_every_n_steps 10 \
    --trainer.enable_progress_bar false
a=runs/flickr8k_sat_scst/version_0/checkpoints/best-epoch03-step752-cider51.73.ckpt
b=$(ls runs/flickr8k_sat_scst_seed2/version_0/checkpoints/best-*.ckpt)
for beam in 3 5; do
  python benchmarks/ensemble_decoding.py --beam $beam --batch-size 100 --allow-unk false \
      --system "$a" --system "$b" --system "$a+$b" > $out/beam$beam.json
done
cp runs/flickr8k_sat_scst_seed2/version_0/metrics.csv $out/seed2_scst_metrics.csv
cp runs/flickr8k_sat_scst_seed2/version_0/config.yaml $out/seed2_scst_config.yaml
