#!/usr/bin/env bash
# One prepared check for a lent GPU machine (under 8 minutes; 14 with the fused-trainer sections): correctness on the device, then
# throughput and MFU of the trial code and of `collect` vs the naive loop, on digits and on
# 32x32 inputs. Every section has its own time limit, so one failure does not hide the rest.
#
#   bash scripts/gpu_check.sh                 (writes $OUT/gpu_check.txt when $OUT is set)
#   DEVICE=cpu QUICK=1 bash scripts/gpu_check.sh   (a dry run of the same code paths on a CPU)
#
# On the lent machine the image has torch but not ConfigSpace: carry its wheels in .whl/
# (see ../.library/device/README.md); they are installed to /tmp/site here.
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE="${DEVICE:-cuda}"
QUICK="${QUICK:-0}"
PY="${PY:-python3}"
OUTFILE="${OUT:-/tmp}/gpu_check.txt"
export PYTHONUNBUFFERED=1 DEVICE QUICK
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ "$QUICK" = 1 ]; then N_CFG=3; N_EP=1; N_NAIVE=2; N_TRAIN=1; N_IMG=300; else N_CFG=64; N_EP=3; N_NAIVE=16; N_TRAIN=4; N_IMG=10000; fi
{
echo "== device ($DEVICE)"; date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
$PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'visible', torch.cuda.is_available())"

echo "== correctness: a trial is finite, repeats itself, and packed trials match lone ones"
timeout 100 $PY scripts/gpu_correctness.py

echo "== bench_train: digits, one trial at a time, ours (bf16 autocast, and fp32) vs the naive loop, steady state"
timeout 90 $PY scripts/bench_train.py --device "$DEVICE" --configs "$N_TRAIN" --epochs 2 --warmup-each

echo "== bench_collect: digits, $N_CFG configs x $N_EP epochs, trials packed: auto, then 8 per GPU"
timeout 150 $PY scripts/bench_collect.py --device "$DEVICE" --configs "$N_CFG" --epochs "$N_EP" --trials-per-gpu auto --naive-configs "$N_NAIVE"
timeout 90 $PY scripts/bench_collect.py --device "$DEVICE" --configs "$N_CFG" --epochs "$N_EP" --trials-per-gpu 8 --skip-naive

echo "== 32x32 ResNet-18-sized workload (random32, one trial): MFU, and the naive loop beside it"
timeout 100 $PY scripts/bench_collect.py --device "$DEVICE" --dataset random32 --resnet18 --images "$N_IMG" --epochs 2 --workers 1 --trials-per-gpu 1

echo "== fused trainer (issue 21): digits, one process, fused vs lone vs naive side by side, and max |fused - lone| val_acc"
timeout 120 $PY scripts/bench_fused.py --device "$DEVICE" --configs "$N_TRAIN" --seeds 3 --budgets 1,3 --naive-configs 1

echo "== fused trainer: collect --fuse 12, digits, $N_CFG configs x 3 seeds x $N_EP epochs, vs the naive loop"
timeout 150 $PY scripts/bench_collect.py --device "$DEVICE" --configs "$N_CFG" --epochs "$N_EP" --seeds 3 --fuse 12 --trials-per-gpu auto --naive-configs "$N_NAIVE"

echo "== fused trainer: ResNet-18-sized workload (random32), 4 seeds fused in one model: MFU"
timeout 100 $PY scripts/bench_collect.py --device "$DEVICE" --dataset random32 --resnet18 --images "$N_IMG" --epochs 2 --workers 1 --trials-per-gpu 1 --fuse 4 --seeds 4 --skip-naive
date -u
} 2>&1 | tee "$OUTFILE"
$PY scripts/gpu_summary.py "$OUTFILE" | tee -a "$OUTFILE"
