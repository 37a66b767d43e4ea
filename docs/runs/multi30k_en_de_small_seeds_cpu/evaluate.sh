#!/bin/bash
# Issue 16 on the CPU: two seeds of configs/translation/multi30k_en_de_small.yaml (see train.sh), their top-4
# averages, and ensembles, on test_2016_flickr: beam 5, and beam 10 with the length penalty tuned on val;
# then int8 against fp32 on seed 1234's best checkpoint. Run from the repository root.
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH"
out=docs/runs/multi30k_en_de_small_seeds_cpu
best() { ls runs/en_de_small_converged_seed$1/version_0/checkpoints/best-*.ckpt | sort -t- -k4 -V | tail -n 1; }
for seed in 1234 2; do
  captra average runs/en_de_small_converged_seed$seed/version_0/checkpoints/best-*.ckpt \
      --out runs/en_de_small_converged_seed$seed/version_0/checkpoints/average-top4.ckpt
done
a=$(best 1234); b=$(best 2)
avg_a=runs/en_de_small_converged_seed1234/version_0/checkpoints/average-top4.ckpt
avg_b=runs/en_de_small_converged_seed2/version_0/checkpoints/average-top4.ckpt
python benchmarks/ensemble_decoding.py --beam 5 --system "$a" --system "$b" --system "$avg_a" --system "$avg_b" \
    --system "$a+$b" --system "$avg_a+$avg_b" > $out/beam5.json
python benchmarks/ensemble_decoding.py --beam 10 --tune-length-penalty 0,0.5,1,1.5 \
    --system "$a" --system "$avg_a" --system "$a+$b" --system "$avg_a+$avg_b" > $out/beam10_tuned.json
python benchmarks/int8_decoding.py --ckpt "$a" --beam 5 > $out/int8_seed1234_best.json
# The same ensemble through `captra test` (its test/bleu must equal beam5.json's "$a+$b" BLEU).
captra test -c configs/translation/base.yaml -c configs/translation/multi30k_en_de_small.yaml \
    --data.data_dir ../shared/data/multi30k --trainer.default_root_dir runs/en_de_small_ensemble_test \
    --trainer.enable_progress_bar false --ckpt_path "$a" --ensemble "[$b]" --model.search.beam_size 5 \
    > $out/captra_test_ensemble.txt 2> runs/en_de_small_ensemble_test.log
