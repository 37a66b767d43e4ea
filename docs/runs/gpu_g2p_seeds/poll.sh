#!/bin/bash
# Wait up to $1 seconds for pipeline.sh (started by start.sh); show its progress; once DONE, pack the results
# (logs, metrics.csv and configs of every run, the validation and test reports; no checkpoints) into $OUT.
end=$((SECONDS+$1))
while [ $SECONDS -lt $end ] && [ ! -f .gpu/results/DONE ]; do
  pgrep -f gpu_g2p_seeds/pipeline.sh > /dev/null || break
  sleep 15
done
date; cat .gpu/results/progress.txt
for d in runs/*/version_0/checkpoints; do echo "$d: $(ls $d | tr '\n' ' ')"; done
for f in .gpu/results/*.metrics.csv; do echo "$f: $(tail -n 1 $f)"; done
grep -l Traceback .gpu/results/*.log .gpu/pipeline.log 2>/dev/null | while read f; do echo "== $f"; tail -n 12 "$f"; done
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
tar czf $OUT/results.tgz -C .gpu results pipeline.log && echo PACKED
true
