#!/usr/bin/env bash
# Full-size Multi30k runs on the lent GPU: 4 trainings at once (2 directions x 2 model sizes).
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
mkdir -p logs
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee logs/machine.txt
python3 -c "import torch, lightning, sacrebleu, sentencepiece, jsonargparse; print('torch', torch.__version__, 'lightning', lightning.__version__, 'sacrebleu', sacrebleu.__version__)" | tee -a logs/machine.txt
nproc >> logs/machine.txt
TIME=${TIME:-00:00:06:30}
run() {  # name config src tgt overrides...
  local name=$1 cfg=$2 src=$3 tgt=$4; shift 4
  local start=$(date +%s)
  python3 -m common.cli fit -c $cfg --data.data_dir .gpu/multi30k --trainer.default_root_dir runs/$name \
    --trainer.precision bf16-mixed --trainer.max_time $TIME --trainer.enable_progress_bar false "$@" > logs/$name.fit.log 2>&1
  echo "train_seconds $(( $(date +%s) - start ))" > logs/$name.time
  local best=$(ls runs/$name/version_0/checkpoints/best-*.ckpt | head -1)
  echo "best $best" >> logs/$name.time
  zcat .gpu/multi30k/test_2016_flickr.$src.gz > /tmp/$name.src
  zcat .gpu/multi30k/test_2016_flickr.$tgt.gz > /tmp/$name.ref
  start=$(date +%s)
  python3 -m common.cli translate --ckpt $best --input /tmp/$name.src --beam 5 --batch-size 128 > logs/$name.test.hyp 2> logs/$name.translate.log
  echo "translate_seconds $(( $(date +%s) - start ))" >> logs/$name.time
  sacrebleu /tmp/$name.ref -i logs/$name.test.hyp -m bleu chrf -w 2 > logs/$name.sacrebleu.json
  sacrebleu /tmp/$name.ref -i logs/$name.test.hyp -m bleu -lc -w 2 > logs/$name.sacrebleu_lc.json
  cp runs/$name/version_0/metrics.csv logs/$name.metrics.csv; cp runs/$name/version_0/config.yaml logs/$name.config.yaml
}
BIG="--model.encoder.embedding_size 512 --model.decoder.embedding_size 512 --model.decoder.output_size 512 --model.encoder.dropout 0.45 --model.decoder.dropout 0.45"
run ende_base configs/translation/multi30k_en_de.yaml en de &
run ende_big configs/translation/multi30k_en_de.yaml en de $BIG &
run deen_base configs/translation/multi30k_de_en.yaml de en &
run deen_big configs/translation/multi30k_de_en.yaml de en $BIG &
wait
for f in logs/*.time; do echo "== $f"; cat $f; done
for f in logs/*sacrebleu*.json; do echo "== $f"; cat $f; done
grep -h -E "Error|Traceback" logs/*.log | head -20
tar czf $OUT/results.tgz logs
