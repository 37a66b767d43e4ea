#!/usr/bin/env bash
# Issue 6 benchmarks 1, 3 and 5 (translation) on the lent GPU. Carried: .whl, .gpu/multi30k,
# .gpu/translation/translation.ckpt (the CPU main job's best checkpoint, optimizer state stripped).
source docs/runs/gpu_speed/common.sh
CKPT=.gpu/translation/translation.ckpt
bench beam_fp32 150 python3 benchmarks/beam_batched_vs_single.py --ckpt $CKPT --device cuda
bench beam_bf16 150 python3 benchmarks/beam_batched_vs_single.py --ckpt $CKPT --device cuda --bf16
bench train_fp32 120 python3 benchmarks/training_throughput.py --device cuda
bench train_bf16 120 python3 benchmarks/training_throughput.py --device cuda --bf16
bench train_bf16_b256 120 python3 benchmarks/training_throughput.py --device cuda --bf16 --batch-size 256
bench loading 120 python3 benchmarks/data_loading.py --device cuda \
  --configs configs/translation/multi30k_en_de_small.yaml configs/translation/multi30k_en_de.yaml
tar czf $OUT/translation.tgz logs
