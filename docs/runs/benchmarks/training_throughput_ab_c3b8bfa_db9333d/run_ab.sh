#!/bin/bash
# A/B of training throughput: c3b8bfa (issue 6 record) vs HEAD, alternating, one machine.
# Usage, from this checkout: run_ab.sh OLD OUT   (OLD: a worktree of c3b8bfa, `git worktree add OLD c3b8bfa`)
set -euo pipefail
OLD=$1 OUT=$2 HEAD_TREE=$PWD PY=$PWD/.venv/bin/python
mkdir -p "$OUT"
for i in 1 2 3; do
  (cd "$OLD" && PYTHONPATH="$OLD" "$PY" benchmarks/training_throughput.py > "$OUT/c3b8bfa_$i.json" 2> "$OUT/c3b8bfa_$i.err")
  (cd "$HEAD_TREE" && "$PY" benchmarks/training_throughput.py > "$OUT/head_$i.json" 2> "$OUT/head_$i.err")
done
echo done > "$OUT/ALL_DONE"
