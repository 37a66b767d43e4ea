#!/bin/bash
# Issue 15, item 2 on the lent GPU: self-critical training of a translation model on sentence BLEU (the task's
# per-sentence scorer), started from the small En->De config's seed-1234 top-4 average (CPU run, 36.48 test BLEU),
# carried as .gpu/scst_init.ckpt; then both checkpoints scored on test_2016_flickr with the same search (beam 5).
# Run from the repository root on the GPU machine with Multi30k in .gpu/multi30k and the wheels in .whl/ - with
# sentencepiece 0.2.3 among them: the machine's 0.2.2 trains a different SentencePiece model from the same text,
# and init_from refuses a checkpoint whose vocabularies differ from the run's.
set -u
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=8
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
mkdir -p /tmp/src && tar --exclude=./.gpu --exclude=./.whl -cf - . | (cd /tmp/src && tar xf -)
sed -i '/^captioning = /d' /tmp/src/pyproject.toml  # pycocoevalcap (100 MB) does not travel: translation only
python3 -m pip install -q --no-deps --no-build-isolation --no-index --upgrade --target /tmp/site /tmp/src || exit 1
export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
OUT=${OUT:-.gpu/scst_results}; mkdir -p $OUT
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/machine.txt
captra fit -c configs/translation/base.yaml -c configs/translation/multi30k_en_de_small.yaml \
  --data.data_dir .gpu/multi30k --model.objective scst --model.init_from .gpu/scst_init.ckpt \
  --model.optimizer.lr 0.0001 --trainer.max_time ${TRAIN_TIME:-00:00:05:30} --trainer.val_check_interval 150 \
  --trainer.log_every_n_steps 10 --trainer.enable_progress_bar false --trainer.default_root_dir runs/scst_mt \
  > $OUT/fit.log 2>&1
run=$(ls -d runs/scst_mt/version_* | sort -V | tail -n 1)  # the newest: a failed try leaves version_0 behind
cp $run/metrics.csv $run/config.yaml $OUT/
best=$(ls $run/checkpoints/best-*.ckpt | sed 's/.*-bleu\(.*\)\.ckpt$/\1 &/' | sort -g | tail -n 1 | cut -d' ' -f2)
echo "best $best" >> $OUT/machine.txt
python3 benchmarks/ensemble_decoding.py --device cuda --beam 5 --data-dir .gpu/multi30k \
  --system .gpu/scst_init.ckpt --system "$best" > $OUT/test_beam5.json 2> $OUT/test_beam5.log
tail -n 3 $OUT/fit.log; cat $OUT/machine.txt; grep -o '"system": "[^"]*"\|"bleu": [0-9.]*\|"bleu_tok_lc": [0-9.]*' $OUT/test_beam5.json
