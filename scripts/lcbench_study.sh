#!/usr/bin/env bash
# The LCBench study of issue 20 (`replay --suite lcbench --optimizers all --seeds 0-4 --budget 30x`),
# run a task at a time so that a report can be written on the part that has finished (replay
# writes the study's manifest when an invocation ends): seed 0 on every task first (the tasks
# are the report's blocks), then seeds 1-4 task by task, then the whole command once (every run
# already done is skipped; it writes the final manifest and the report).
#
#     nice -n 5 scripts/lcbench_study.sh [OUT=runs/lcbench] [JOBS=2]
#
# Resumable: rerun it; finished runs are skipped. A report on the finished part at any time:
#     python -m mfbench report OUT
set -euo pipefail
OUT=${1:-runs/lcbench}
JOBS=${2:-2}
PY=${PYTHON:-python}
TASKS=$($PY -c "from mfbench.objectives.lcbench import TASKS; print(' '.join(TASKS))")
common=(--optimizers all --budget 30x --jobs "$JOBS" --out "$OUT" --no-progress --no-report)
for t in $TASKS; do
    echo "$(date -u +%T) seed 0 lcbench/$t"
    $PY -m mfbench replay --benchmarks "lcbench/$t" --seeds 0 "${common[@]}"
done
for t in $TASKS; do
    echo "$(date -u +%T) seeds 0-4 lcbench/$t"
    $PY -m mfbench replay --benchmarks "lcbench/$t" --seeds 0-4 "${common[@]}"
done
echo "$(date -u +%T) the whole study"
$PY -m mfbench replay --suite lcbench --optimizers all --seeds 0-4 --budget 30x --jobs "$JOBS" --out "$OUT" --no-progress
echo "$(date -u +%T) done"
