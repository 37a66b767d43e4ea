#!/bin/bash
# Issue 15: Show and Tell + SCST on the CPU, from the Show and Tell cross-entropy run (issue 14's recipe, rerun:
# runs/flickr8k_show_tell_xe, best at epoch 5 with val CIDEr-D 42.66 as in issue 14), 4 epochs of
# configs/captioning/flickr8k_scst.yaml as the SAT + SCST row; then the test split at beam 3 and 5.
# <unk> allowed, as in the cross-entropy run. Run from the repository root.
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH"
out=docs/runs/flickr8k_show_tell_scst_cpu
xe=runs/flickr8k_show_tell_xe/version_0/checkpoints/best-epoch05-step2814-cider42.66.ckpt
captra fit -c configs/captioning/base.yaml -c configs/captioning/flickr8k_show_tell.yaml \
    -c configs/captioning/flickr8k_scst.yaml --model.init_from $xe --model.search.allow_unk true \
    --trainer.max_epochs 4 --trainer.default_root_dir runs/flickr8k_show_tell_scst \
    --trainer.log_every_n_steps 10 --trainer.enable_progress_bar false
scst=$(ls runs/flickr8k_show_tell_scst/version_0/checkpoints/best-*.ckpt)
for beam in 3 5; do
  python benchmarks/ensemble_decoding.py --beam $beam --batch-size 100 --allow-unk true \
      --system "$xe" --system "$scst" > $out/beam$beam.json
done
cp runs/flickr8k_show_tell_scst/version_0/metrics.csv $out/scst_metrics.csv
cp runs/flickr8k_show_tell_scst/version_0/config.yaml $out/scst_config.yaml
