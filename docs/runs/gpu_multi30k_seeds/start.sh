#!/bin/bash
# Install captra (translation task only: pycocoevalcap is 100 MB, over the transfer limit) and start the pipeline.
# On the lent GPU machine (the device tool), with .whl/ (jsonargparse, docstring_parser, typeshed_client,
# sacremoses, sacrebleu, nltk) and .gpu/ (Multi30k in .gpu/multi30k, this script and poll.sh) carried:
#   export CAPTRA_COMMIT=939dea7; bash .gpu/start.sh && bash .gpu/poll.sh 540     # then: bash .gpu/poll.sh 540
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
mkdir -p /tmp/src && tar --exclude=./.gpu --exclude=./.whl -cf - . | (cd /tmp/src && tar xf -)
sed -i '/^captioning = /d' /tmp/src/pyproject.toml
python3 -m pip install -q --no-deps --no-build-isolation --no-index --upgrade --target /tmp/site /tmp/src || exit 1
rm -rf .gpu/results runs; mkdir -p .gpu/results
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  PYTHONPATH=/tmp/site python3 -c "import torch, lightning, sacrebleu, sacremoses, jsonargparse; print('torch', torch.__version__, 'lightning', lightning.__version__, 'sacrebleu', sacrebleu.__version__, 'cuda', torch.cuda.is_available())"
  (cd /tmp && PYTHONPATH=/tmp/site python3 -c "import captra.common.task as t; print('tasks', list(t.tasks()))"); } > .gpu/results/machine.txt 2>&1
cat .gpu/results/machine.txt
PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH TRAIN_TIME=${TRAIN_TIME:-00:00:14:00} \
  setsid nohup bash docs/runs/gpu_multi30k_seeds/pipeline.sh > .gpu/pipeline.log 2>&1 < /dev/null &
sleep 5
