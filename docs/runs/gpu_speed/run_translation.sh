#!/usr/bin/env bash
# Issue 6 benchmarks 3 and 5 (translation) on the lent GPU. Carried: .whl, .gpu/multi30k.
source docs/runs/gpu_speed/common.sh
bench train_fp32 120 python3 benchmarks/training_throughput.py --device cuda
bench train_bf16 120 python3 benchmarks/training_throughput.py --device cuda --bf16
bench train_bf16_b256 120 python3 benchmarks/training_throughput.py --device cuda --bf16 --batch-size 256
bench loading 120 python3 benchmarks/data_loading.py --device cuda \
  --configs configs/translation/multi30k_en_de_small.yaml configs/translation/multi30k_en_de.yaml
