"""Epochs per second of mfbench's trial code against a naive torchvision-style loop, on the
same fixed sample of `cnn` configs on digits, measured side by side in one run.

    python scripts/bench_train.py [--configs 8] [--epochs 3] [--device cpu|cuda] [--threads 1]

Prints one row per config and the ratio of total epochs/s. Goal: >= 3x on the CPU, >= 10x on a GPU.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import torch  # noqa: E402
from naive_loop import naive_train  # noqa: E402

from mfbench.training.data import load_dataset  # noqa: E402
from mfbench.training.space import get_space, sample_configs  # noqa: E402
from mfbench.training.train import train_trial  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument(
        "--warmup-each",
        action="store_true",
        help="one untimed epoch of every config in each loop first (steady state: kernels loaded)",
    )
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ds = load_dataset(a.dataset)
    from mfbench.training.train import default_amp

    fp32 = a.device == "cuda"  # also time our loop with the other precision (bf16 autocast + channels_last or not)
    alt = not default_amp(ds.shape) if fp32 else None
    alt_name = "bf16" if alt else "fp32"
    configs = sample_configs(get_space("cnn"), a.configs, seed=2026, design="sobol")
    train_trial(configs[0], ds, 0, 1, device=a.device)  # warm-up (data to device, kernels)
    naive_train(configs[0], ds, 0, 1, device=a.device)
    ours_t = naive_t = fp32_t = 0.0
    extra = f" {alt_name + ' s/epoch':>12}" if fp32 else ""
    print(f"{'config':<44} {'ours s/epoch':>12}{extra} {'naive s/epoch':>13} {'ratio':>6}")

    def ours_epoch(c: dict, amp: bool | None) -> float:
        if a.warmup_each:
            train_trial(c, ds, 0, 1, device=a.device, amp=amp)
        r = train_trial(c, ds, 0, a.epochs, device=a.device, amp=amp)
        # the same span that naive_train times: the epochs (train + eval), not the set-up
        # before them (model build, data to the device) nor the FLOP count after them
        return sum(e.train_seconds + e.eval_seconds for e in r.epochs) / max(len(r.epochs), 1)

    for c in configs:
        ours = ours_epoch(c, None)
        f32 = ours_epoch(c, alt) if fp32 else 0.0
        if a.warmup_each:
            naive_train(c, ds, 0, 1, device=a.device)
        naive = naive_train(c, ds, 0, a.epochs, device=a.device)
        ours_t += ours
        fp32_t += f32
        naive_t += naive
        name = f"{c['architecture']} w{c['width']} bs{c['batch_size']} {c['optimizer']} {c['augmentation']}"
        col = f" {f32:>12.3f}" if fp32 else ""
        print(f"{name:<44} {ours:>12.3f}{col} {naive:>13.3f} {naive / ours:>6.2f}")
    steady = ", each config warmed up first" if a.warmup_each else ""
    print(
        f"\n{a.dataset} on {a.device} ({a.threads} thread(s)), {a.configs} configs x {a.epochs} epochs{steady}: "
        f"ours {a.configs / ours_t:.2f} epochs/s, naive {a.configs / naive_t:.2f} epochs/s, "
        f"speed-up {naive_t / ours_t:.2f}x"
    )
    if fp32:
        print(
            f"ours in {alt_name} instead (the default here is {'fp32' if alt else 'bf16'}): "
            f"{a.configs / fp32_t:.2f} epochs/s, speed-up {naive_t / fp32_t:.2f}x over naive, "
            f"{ours_t / fp32_t:.2f}x over the default"
        )


if __name__ == "__main__":
    main()
