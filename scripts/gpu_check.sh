#!/usr/bin/env bash
# One prepared check for a lent GPU machine (under 8 minutes): correctness on the device, then
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
date -u
} 2>&1 | tee "$OUTFILE"
$PY scripts/gpu_summary.py "$OUTFILE" | tee -a "$OUTFILE"
