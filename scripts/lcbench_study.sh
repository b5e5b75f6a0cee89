#!/usr/bin/env bash
# The LCBench study of issue 20 (`replay --suite lcbench --optimizers all --seeds 0-4 --budget 30x`):
# seed 0 on every task first (the tasks are the report's blocks, so one seed on all of them
# ranks the optimizers early), then the whole command (every run already done is skipped; it
# runs the tasks in order and writes the report at the end). Replay rewrites the study's
# manifest every minute while runs finish, so a report can be written on the finished part at
# any time, and a study ended by a session's end keeps the record of what it ran. (Until
# session 12 seeds 1-4 ran as one invocation per task, for the manifest; the invocations'
# ends cost ~30 s each merging every run file, and a task's last long run left a core idle.)
#
#     nice -n 5 scripts/lcbench_study.sh [OUT=runs/lcbench] [JOBS=2]
#
# Resumable: rerun it; finished runs are skipped, and the seed-0 step is not started when its
# run files all exist. Stop it with SIGTERM, never SIGSTOP (a stopped run's measured overheads
# would count the pause). A report on the finished part at any time:
#     python scripts/study_subset.py OUT DST --seeds 0-4 --complete && python -m mfbench report DST
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
echo "$(date -u +%T) the whole study"
$PY -m mfbench replay --suite lcbench --optimizers all --seeds 0-4 --budget 30x --jobs "$JOBS" --out "$OUT" --no-progress
echo "$(date -u +%T) done"
