"""Correctness of the trial code on a device (run by gpu_check.sh): a trial gives finite
metrics, repeats itself with the same seed, and trials packed on one device (several worker
processes at once) give the metrics of a lone trial.

    DEVICE=cuda python scripts/gpu_correctness.py
"""

import json
import math
import os
import tempfile

from mfbench.tables.collect import collect
from mfbench.tables.table import load_table
from mfbench.training.data import load_dataset
from mfbench.training.train import train_trial


def main() -> None:
    dev = os.environ["DEVICE"]
    cfg = {
        "architecture": "resnet",
        "resnet_blocks": 1,
        "width": 16,
        "kernel_size": 3,
        "activation": "relu",
        "dropout": 0.0,
        "batch_norm": True,
        "optimizer": "sgd",
        "momentum": 0.9,
        "learning_rate": 0.05,
        "weight_decay": 5e-4,
        "batch_size": 64,
        "lr_schedule": "cosine",
        "augmentation": "standard",
        "label_smoothing": 0.0,
    }
    ds = load_dataset("digits")
    r = train_trial(cfg, ds, 0, 3, device=dev)
    r2 = train_trial(cfg, ds, 0, 3, device=dev)
    ok = r.status == "ok" and all(math.isfinite(e.val_loss) for e in r.epochs)
    print(
        "status",
        r.status,
        r.reason,
        "| finite:",
        ok,
        "| device:",
        r.device,
        "| peak MiB:",
        round(r.peak_memory_bytes / 2**20, 1),
    )
    print("val_acc per epoch:", [round(e.val_acc, 4) for e in r.epochs])
    print(
        "same seed twice in one process, max |diff val_loss|:",
        max(abs(a.val_loss - b.val_loss) for a, b in zip(r.epochs, r2.epochs)),
    )
    with tempfile.TemporaryDirectory() as d:
        with open(f"{d}/c.json", "w") as f:
            json.dump([cfg], f)
        collect(
            dataset="digits",
            space="cnn",
            db=f"{d}/p.sqlite",
            design="file",
            config_file=f"{d}/c.json",
            seeds=[0, 1, 2, 3],
            budgets=[3],
            device=dev,
            workers=4,
            trials_per_gpu=4,
            progress=False,
        )
        t = load_table(f"{d}/p.sqlite")
        packed = t.metrics["val_acc"][0, 0, 0, :3]
        print(
            "packed (4 trials at once) seed 0 val_acc:",
            [round(float(v), 4) for v in packed],
            "| max |diff| vs alone:",
            float(max(abs(a - e.val_acc) for a, e in zip(packed, r.epochs))),
        )


if __name__ == "__main__":
    main()
