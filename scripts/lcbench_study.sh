#!/usr/bin/env bash
# The LCBench study of issue 20 (`replay --suite lcbench --optimizers all --seeds 0-4 --budget 30x`),
# run a task at a time so that a report can be written on the part that has finished (replay
# writes the study's manifest when an invocation ends): seed 0 on every task first (the tasks
# are the report's blocks; one invocation), then seeds 1-4 task by task, then the whole command once (every run
# already done is skipped; it writes the final manifest and the report).
#
#     nice -n 5 scripts/lcbench_study.sh [OUT=runs/lcbench] [JOBS=2]
#
# Resumable: rerun it; finished runs are skipped, and a (task, seeds) step whose run files all
# exist is not started at all (a replay with nothing to do still reads and merges every run file
# of the folder, ~15 s at 700 runs). A report on the finished part at any time:
#     python -m mfbench report OUT
set -euo pipefail
OUT=${1:-runs/lcbench}
JOBS=${2:-2}
PY=${PYTHON:-python}
TASKS=$($PY -c "from mfbench.objectives.lcbench import TASKS; print(' '.join(TASKS))")
OPTIMIZERS=$($PY -c "from mfbench.studies.replay import resolve_optimizers; print(' '.join(resolve_optimizers('all')))")
common=(--optimizers all --budget 30x --jobs "$JOBS" --out "$OUT" --no-progress --no-report)

# done TASK SEED...: true when every optimizer's run file for the task and these seeds exists
done_already() {
    local t=$1 s o
    shift
    for s in "$@"; do
        for o in $OPTIMIZERS; do
            [[ -f "$OUT/runs/lcbench-${t}__${o}__${s}.parquet" ]] || return 1
        done
    done
}

# seed 0 on every task in one invocation: its runs keep both jobs busy to the end (task by task,
# a task's last long run left a core idle), and the manifest is written once they are all done
for t in $TASKS; do
    if ! done_already "$t" 0; then
        echo "$(date -u +%T) seed 0 on every task"
        $PY -m mfbench replay --suite lcbench --seeds 0 "${common[@]}"
        break
    fi
done
for t in $TASKS; do
    done_already "$t" 0 1 2 3 4 && continue
    echo "$(date -u +%T) seeds 0-4 lcbench/$t"
    $PY -m mfbench replay --benchmarks "lcbench/$t" --seeds 0-4 "${common[@]}"
done
echo "$(date -u +%T) the whole study"
$PY -m mfbench replay --suite lcbench --optimizers all --seeds 0-4 --budget 30x --jobs "$JOBS" --out "$OUT" --no-progress
echo "$(date -u +%T) done"
