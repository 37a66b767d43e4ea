#!/bin/bash
# Issue 16 on the CPU: the small En->De config trained with early stopping on validation BLEU (patience 5, at most
# 30 epochs), two seeds side by side (one thread each), keeping the 4 best checkpoints for averaging.
export PATH="$PWD/.venv/bin:$PATH" OMP_NUM_THREADS=1
for seed in 1234 2; do
  captra fit -c configs/translation/base.yaml -c configs/translation/multi30k_en_de_small.yaml \
    --data.data_dir ../shared/data/multi30k --seed_everything $seed --trainer.max_epochs 30 \
    --checkpoint.save_top_k 4 --trainer.enable_progress_bar false \
    --trainer.default_root_dir runs/en_de_small_converged_seed$seed > runs/en_de_small_converged_seed$seed.log 2>&1 &
done
wait
