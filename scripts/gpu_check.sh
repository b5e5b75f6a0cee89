#!/usr/bin/env bash
# One prepared check for a lent GPU machine (under 8 minutes): correctness on the device, then
# throughput and MFU of collect vs the naive loop on digits and on 32x32 inputs.
#   bash scripts/gpu_check.sh        (writes $OUT/gpu_check.txt when $OUT is set)
set -uo pipefail
cd "$(dirname "$0")/.."
OUTFILE="${OUT:-/tmp}/gpu_check.txt"
export PYTHONUNBUFFERED=1
python -m pip install -q --no-deps -e . >/dev/null 2>&1 || true
{
echo "== device"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "== correctness: a CUDA trial is finite; packed trials match a lone trial"
timeout 120 python - <<'PY'
import json, math, subprocess, sys, tempfile, torch
from mfbench.data import load_dataset
from mfbench.train import train_trial
cfg = {"architecture": "resnet", "resnet_blocks": 1, "width": 16, "kernel_size": 3, "activation": "relu",
       "dropout": 0.0, "batch_norm": True, "optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.05,
       "weight_decay": 5e-4, "batch_size": 64, "lr_schedule": "cosine", "augmentation": "standard", "label_smoothing": 0.0}
ds = load_dataset("digits")
r = train_trial(cfg, ds, 0, 3, device="cuda")
ok = r.status == "ok" and all(math.isfinite(e.val_loss) for e in r.epochs)
print("finite:", ok, r.device, [round(e.val_acc, 4) for e in r.epochs])
from mfbench.collect import collect
with tempfile.TemporaryDirectory() as d:
    json.dump([cfg], open(f"{d}/c.json", "w"))
    collect(dataset="digits", space="cnn", db=f"{d}/p.sqlite", design="file", config_file=f"{d}/c.json",
            seeds=[0, 1, 2, 3], budgets=[3], device="cuda", trials_per_gpu=4, progress=False)
    from mfbench.table import load_table
    t = load_table(f"{d}/p.sqlite")
    packed = t.metrics["val_acc"][0, 0, 0, :3]
    print("packed seed 0:", [round(float(v), 4) for v in packed], "max |diff| vs alone:",
          float(max(abs(a - e.val_acc) for a, e in zip(packed, r.epochs))))
PY
echo "== throughput: digits, 16 configs x 3 epochs, packed"
timeout 200 python scripts/bench_collect.py --device cuda --configs 16 --epochs 3 --workers 1 --trials-per-gpu auto
echo "== bench_train: digits, per-trial speed vs naive on CUDA"
timeout 100 python scripts/bench_train.py --device cuda --configs 4 --epochs 2
echo "== 32x32 ResNet-18-sized workload: MFU (random32, one trial)"
timeout 120 python scripts/bench_collect.py --device cuda --dataset random32 --resnet18 --epochs 2 --workers 1 --trials-per-gpu 1
} 2>&1 | tee "$OUTFILE"
