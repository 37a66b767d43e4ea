#!/usr/bin/env bash
# Issue 6 benchmark 5 for captioning on the lent GPU, after the loader fix (cached features read in the
# main process; the benchmark drops each batch as training does), twice for the spread. Carried as
# run_captioning.sh.
source docs/runs/gpu_speed/common.sh
for run in 1 2; do
  bench loading_captions_$run 120 python3 benchmarks/data_loading.py --device cuda --batches 30 \
    --configs configs/captioning/flickr8k.yaml --model.init_args.encoder.weights random \
    --data.init_args.cache_dir /tmp/captra-cache
done
