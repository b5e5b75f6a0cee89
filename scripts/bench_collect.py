"""Epochs per second of `collect` (all its parallelism on) against the naive loop of
bench_train.py run sequentially, on the same configs, side by side in one run; on CUDA also
the achieved model FLOP/s as a fraction of the device's peak (MFU).

    python scripts/bench_collect.py [--configs 8] [--epochs 3] [--device cpu|cuda]
        [--workers N] [--trials-per-gpu K] [--dataset digits|random32] [--resnet18]
        [--fuse auto|off|N] [--seeds 1]

``--budgets 1,3,9`` measures a real table's workload instead: every configuration trained with a
cosine schedule to each budget of the ladder (as `collect` does for a cosine configuration: one
training per schedule, 3 seeds x 3 schedules = 9 networks of one shape), and the naive loop
trains each (configuration, seed, budget) from scratch the same way. Without it every
configuration gets a constant schedule and one training of ``--epochs``.

``--fuse`` is collect's (default auto: fused groups on the CPU when trials share shapes; on CUDA
lone trials packed on the GPU); with ``--seeds 3`` the seeds of each configuration are fused (the
naive loop trains the same trials one by one). The last line is ``collect/naive ratio: X.XX``.
In process (random32) any ``--fuse`` but ``off`` trains the seeds as one fused model.

`random32` is 10,000 random 32x32x3 images (throughput only: no download needed on a lent GPU).
`--resnet18` measures one ResNet-18-sized config (3 stages 64-128-256, 2 blocks each) instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from naive_loop import naive_train  # noqa: E402

import mfbench.training.data as data_mod  # noqa: E402
from mfbench.tables.collect import collect  # noqa: E402
from mfbench.training.space import get_space, sample_configs  # noqa: E402

#: dense bf16 tensor-core peak, FLOP/s
PEAKS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}

RESNET18ISH = {
    "architecture": "resnet",
    "resnet_blocks": 2,
    "width": 64,
    "kernel_size": 3,
    "activation": "relu",
    "dropout": 0.0,
    "batch_norm": True,
    "optimizer": "sgd",
    "momentum": 0.9,
    "learning_rate": 0.05,
    "weight_decay": 5e-4,
    "batch_size": 256,
    "lr_schedule": "cosine",
    "augmentation": "standard",
    "label_smoothing": 0.0,
}


def register_random32(n: int = 10_000) -> None:
    """A throughput-only dataset of random images, registered under the name `random32`."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, size=n).astype(np.int64)
    split = data_mod._stratified_split(y, 0)
    data_mod.DATASETS["random32"] = ("crop-flip", None)
    data_mod._CACHE[("random32", None, 0, 0)] = data_mod.Dataset("random32", x, y, 10, "crop-flip", split)


def peak_flops() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    return next((v for k, v in PEAKS.items() if k in name), None)


def in_process(configs: list[dict], ds, a) -> None:
    from mfbench.training.fused import Member, train_group
    from mfbench.training.train import train_trial

    def run(c: dict, epochs: int) -> list:
        if a.fuse != "off":  # the seeds of the config as one fused model
            return train_group([Member(c, s, epochs) for s in range(a.seeds)], ds, device=a.device)
        return [train_trial(c, ds, s, epochs, device=a.device) for s in range(a.seeds)]

    run(configs[0], 1)  # warm-up
    flops = epochs = 0
    t0 = time.perf_counter()
    for c in configs:
        for r in run(c, a.epochs):
            n = len(ds.split.train) * 3 + len(ds.split.val) + len(ds.split.test)
            flops += r.flops * n * len(r.epochs)
            epochs += len(r.epochs)
    wall = time.perf_counter() - t0
    peak = peak_flops() if a.device != "cpu" else None
    mfu = f", MFU {100 * flops / wall / peak:.1f} % of {peak / 1e12:.0f} TFLOP/s" if peak else ""
    print(
        f"{ds.name} in-process ({'lone' if a.fuse == 'off' else 'fused'}, {a.seeds} seed(s)): {epochs / wall:.2f} epochs/s, "
        f"{flops / wall / 1e12:.2f} model TFLOP/s{mfu}"
    )
    if not a.skip_naive:
        t0 = time.perf_counter()
        for c in configs:
            for s in range(a.seeds):
                naive_train(c, ds, s, a.epochs, device=a.device)
        naive = time.perf_counter() - t0
        print(f"naive loop: {epochs / naive:.2f} epochs/s; speed-up {naive / wall:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--trials-per-gpu", default="auto")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--resnet18", action="store_true")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument(
        "--naive-configs",
        type=int,
        default=0,
        help="time the (slow, sequential) naive loop on only the first K configs: its epochs/s",
    )
    ap.add_argument("--images", type=int, default=10_000, help="random32 only: how many images")
    ap.add_argument("--fuse", default="auto", help="collect's --fuse: auto, off or a group size")
    ap.add_argument("--seeds", type=int, default=1, help="training seeds per configuration")
    ap.add_argument("--budgets", help="a ladder, e.g. 1,3,9: cosine schedules to each budget (a real table's workload)")
    a = ap.parse_args()
    if a.dataset == "random32":
        register_random32(a.images)
    ds = data_mod.load_dataset(a.dataset)
    configs = [RESNET18ISH] if a.resnet18 else sample_configs(get_space("cnn"), a.configs, seed=2026, design="sobol")
    budgets = [int(b) for b in a.budgets.split(",")] if a.budgets else [a.epochs]
    for c in configs:  # one training per budget (cosine to it), or one constant-schedule training
        c["lr_schedule"] = "cosine" if a.budgets else "constant"
    if a.dataset == "random32":  # lives in this process only: time train_trial itself
        return in_process(configs, ds, a)
    with tempfile.TemporaryDirectory() as tmp:
        cfg_file = Path(tmp) / "configs.json"
        import json

        cfg_file.write_text(json.dumps(configs))
        t0 = time.perf_counter()
        s = collect(
            dataset=a.dataset,
            space="cnn",
            db=Path(tmp) / "b.sqlite",
            design="file",
            config_file=str(cfg_file),
            seeds=list(range(a.seeds)),
            budgets=budgets,
            workers=a.workers,
            device=a.device,
            fuse=a.fuse,
            trials_per_gpu=a.trials_per_gpu if a.trials_per_gpu == "auto" else int(a.trials_per_gpu),
            progress=False,
        )
        ours_wall = time.perf_counter() - t0
        from mfbench.tables.table import load_table

        tab = load_table(Path(tmp) / "b.sqlite")
    n_train = len(ds.split.train)
    n_eval = len(ds.split.val) + len(ds.split.test)
    model_flops = float(sum(int(f) * (3 * n_train + n_eval) * sum(budgets) for f in tab.flops)) * a.seeds
    ours_eps = s.epochs / ours_wall
    if a.device == "cuda":
        from mfbench.tables.collect import resolve_slots

        slots = f"{resolve_slots('cuda', 1, a.trials_per_gpu)[0]} trials per GPU ({a.trials_per_gpu})"
    else:
        slots = f"{a.workers} workers"
    line = (
        f"collect: {s.epochs} epochs in {ours_wall:.1f} s = {ours_eps:.2f} epochs/s ({slots}, {a.device}, "
        f"trainer {s.trainer}, --fuse {a.fuse}, {a.seeds} seed(s))"
    )
    peak = peak_flops() if a.device != "cpu" else None
    if peak:
        line += (
            f"; model {model_flops / ours_wall / 1e9:.1f} GFLOP/s = MFU {100 * model_flops / ours_wall / peak:.3f} %"
        )
    print(line)
    if a.skip_naive:
        return
    torch.set_num_threads(os.cpu_count() or 1)
    sample = configs[: a.naive_configs] if a.naive_configs else configs
    t0 = time.perf_counter()
    for c in sample:
        for seed in range(a.seeds):
            for b in budgets:
                naive_train(c, ds, seed, b, device="cuda" if a.device == "cuda" else "cpu")
    naive_wall = time.perf_counter() - t0
    naive_epochs = len(sample) * a.seeds * sum(budgets)
    naive_eps = naive_epochs / naive_wall
    of = f" (the first {len(sample)} configs)" if len(sample) < len(configs) else ""
    print(f"naive loop, sequential{of}: {naive_epochs} epochs in {naive_wall:.1f} s = {naive_eps:.2f} epochs/s")
    print(f"collect/naive ratio: {ours_eps / naive_eps:.2f}")


if __name__ == "__main__":
    main()
