#!/usr/bin/env bash
# Issue 6 benchmarks 2, 4 and 5 (captioning) on the lent GPU. Carried: .whl, .gpu/captioning: the
# Flickr8k checkpoint (optimizer state stripped) and the first 500 test images (see its README).
source docs/runs/gpu_speed/common.sh
CKPT=.gpu/captioning/captioning.ckpt
bench caption_fp32 200 python3 benchmarks/caption_batched_vs_single.py --ckpt $CKPT --device cuda
bench caption_bf16 150 python3 benchmarks/caption_batched_vs_single.py --ckpt $CKPT --device cuda --bf16 --decoder-only
bench feature_cache 150 python3 benchmarks/feature_cache_epoch.py --ckpt $CKPT --device cuda --split test --images 500 --workers 4
bench loading_captions 120 python3 benchmarks/data_loading.py --device cuda --batches 30 \
  --configs configs/captioning/flickr8k.yaml --model.init_args.encoder.weights random \
  --data.init_args.cache_dir /tmp/captra-cache
