#!/bin/bash
# A/B of training throughput: c3b8bfa (issue 6 record) vs HEAD, alternating, one machine.
PY=/work/main/.venv/bin/python
for i in 1 2 3; do
  (cd /work/ab_c3b8bfa && PYTHONPATH=/work/ab_c3b8bfa $PY benchmarks/training_throughput.py > /work/ab_out/c3b8bfa_$i.json 2> /work/ab_out/c3b8bfa_$i.err)
  (cd /work/main && $PY benchmarks/training_throughput.py > /work/ab_out/head_$i.json 2> /work/ab_out/head_$i.err)
done
echo done > /work/ab_out/ALL_DONE
