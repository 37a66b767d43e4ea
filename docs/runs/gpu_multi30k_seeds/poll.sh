#!/bin/bash
# Wait up to $1 seconds for docs/runs/gpu_multi30k_seeds/pipeline.sh; show progress; once DONE, pack the results into $OUT.
end=$((SECONDS+$1))
while [ $SECONDS -lt $end ] && [ ! -f .gpu/results/DONE ]; do
  pgrep -f gpu_multi30k_seeds/pipeline.sh > /dev/null || break
  sleep 15
done
date; cat .gpu/results/progress.txt
for d in runs/*/version_0/checkpoints; do echo "$d: $(ls $d | tr '\n' ' ')"; done
grep -l Traceback .gpu/results/*.log .gpu/pipeline.log 2>/dev/null | while read f; do echo "== $f"; tail -n 12 "$f"; done
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
[ -f .gpu/results/DONE ] && tar czf $OUT/results.tgz -C .gpu results && echo PACKED
true
