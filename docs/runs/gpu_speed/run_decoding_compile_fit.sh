#!/usr/bin/env bash
# Issue 6 on the lent GPU: benchmark 1 (beam search) in fp32, bf16 and with torch.compile; benchmark 3
# with torch.compile; and `captra fit` logging its own train/tokens_per_s (bf16-mixed and fp32, and
# without attention, where the decoder runs as one cuDNN LSTM call). Carried: .whl, .gpu/multi30k,
# .gpu/translation/translation.ckpt (the CPU main job's best checkpoint, optimizer state stripped).
source docs/runs/gpu_speed/common.sh
CKPT=.gpu/translation/translation.ckpt
bench beam_fp32 60 python3 benchmarks/beam_batched_vs_single.py --ckpt $CKPT --device cuda
bench beam_bf16 60 python3 benchmarks/beam_batched_vs_single.py --ckpt $CKPT --device cuda --bf16
fit() {  # NAME OVERRIDES...: 200 training steps of the full-size config, logged every 50
  local name=$1; shift
  timeout 75 python3 -m common.cli fit -c configs/translation/multi30k_en_de.yaml --trainer.default_root_dir runs/$name \
    --trainer.max_epochs 1 --trainer.limit_train_batches 200 --trainer.limit_val_batches 2 \
    --trainer.enable_progress_bar false "$@" > logs/fit_$name.log 2>&1
  echo "fit $name rc=$?"; cp runs/$name/version_0/metrics.csv logs/fit_$name.metrics.csv
  python3 - logs/fit_$name.metrics.csv <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r.get("train/tokens_per_s")]
print(sys.argv[1], [(r["step"], round(float(r["train/tokens_per_s"])), round(float(r["train/examples_per_s"]))) for r in rows])
PY
  tar czf $OUT/logs.tgz logs
}
fit bf16 --trainer.precision bf16-mixed
fit fp32 --trainer.precision 32-true
fit bf16_no_attention --trainer.precision bf16-mixed --model.init_args.decoder.attention none
bench beam_compile 120 python3 benchmarks/beam_batched_vs_single.py --ckpt $CKPT --device cuda --compile
bench train_bf16_compile 120 python3 benchmarks/training_throughput.py --device cuda --bf16 --compile
