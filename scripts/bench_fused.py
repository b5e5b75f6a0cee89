"""The fused trainer against the lone trainer and the naive loop, side by side in one run.

For each configuration of a Sobol design, the trials a sweep would run for it (seeds x
schedules) are trained three ways, one right after the other so that they share the machine's
load: as one fused group (``fused.train_group``), one by one (``train.train_trial``), and with
the naive torchvision-style loop (``scripts/naive_loop.py``, on the first ``--naive-configs``).
Prints epochs/s per configuration and overall, then ``fused/lone`` and ``fused/naive`` ratios.

    python scripts/bench_fused.py [--configs 6] [--seeds 3] [--budgets 1,2] [--threads 1]
        [--device cpu|cuda] [--naive-configs 2] [--profile]

``--profile``: the ops that take the time in one fused epoch and in the lone epochs it
replaces (per-op overhead against convolution compute).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import torch

from mfbench.tables.collect import schedules_for
from mfbench.training.data import load_dataset
from mfbench.training.fused import Member, train_group
from mfbench.training.space import get_space, sample_configs
from mfbench.training.train import train_trial


def profile(members: list[Member], ds, device: str) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    for name, fn in (
        ("fused", lambda: train_group(members, ds, device=device)),
        ("lone", lambda: [train_trial(m.config, ds, m.seed, m.schedule_epochs, device=device) for m in members]),
    ):
        with prof(activities=[ProfilerActivity.CPU]) as p:
            fn()
        ev = p.key_averages()
        total = sum(e.self_cpu_time_total for e in ev)
        conv = sum(e.self_cpu_time_total for e in ev if "conv" in e.key or "mkldnn" in e.key)
        n_ops = sum(e.count for e in ev)
        print(f"profile {name}: {n_ops} ops, self CPU {total / 1e6:.2f} s, convolutions {100 * conv / total:.0f} %")
        for e in sorted(ev, key=lambda e: -e.self_cpu_time_total)[:6]:
            print(f"    {e.key:<45} {e.count:>7} calls {e.self_cpu_time_total / 1e3:9.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", type=int, default=6)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budgets", default="1,2", help="the ladder: one cosine schedule per budget")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--naive-configs", type=int, default=2)
    ap.add_argument("--design-seed", type=int, default=2026)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from naive_loop import naive_train

    ds = load_dataset("digits")
    budgets = [int(b) for b in a.budgets.split(",")]
    configs = sample_configs(get_space("cnn"), a.configs, seed=a.design_seed, design="sobol")
    train_group([Member(configs[0], 0, 1)], ds, device=a.device)  # warm-up
    tot = {"fused": 0.0, "lone": 0.0, "naive": 0.0, "naive_lone": 0.0}
    epochs_all = epochs_naive = 0
    gap = 0.0
    for i, c in enumerate(configs):
        members = [Member(c, s, e) for e in reversed(schedules_for(c, budgets)) for s in range(a.seeds)]
        ep = sum(m.schedule_epochs for m in members)
        t0 = time.perf_counter()
        res = train_group(members, ds, device=a.device)
        tf = time.perf_counter() - t0
        t0 = time.perf_counter()
        lone = [train_trial(m.config, ds, m.seed, m.schedule_epochs, device=a.device) for m in members]
        tl = time.perf_counter() - t0
        for r, q in zip(res, lone):  # float32 (or bf16 on CUDA): the same trainings up to rounding
            if r.epochs and q.epochs:
                gap = max(gap, abs(r.epochs[-1].val_acc - q.epochs[-1].val_acc))
        tot["fused"] += tf
        tot["lone"] += tl
        epochs_all += ep
        line = (
            f"{i}: {c['architecture']:<9} width {c['width']:>2} batch {c['batch_size']:>3} {len(members):>2} members,"
            f" {ep:>2} epochs: fused {ep / tf:6.2f} epochs/s, lone {ep / tl:6.2f} ({tl / tf:.2f}x)"
        )
        if i < a.naive_configs:
            t0 = time.perf_counter()
            for m in members:
                naive_train(m.config, ds, m.seed, m.schedule_epochs, device=a.device)
            tn = time.perf_counter() - t0
            tot["naive"] += tn
            tot["naive_lone"] += tl
            tot.setdefault("naive_fused", 0.0)
            tot["naive_fused"] += tf
            epochs_naive += ep
            line += f", naive {ep / tn:6.2f} ({tn / tf:.2f}x)"
        print(line + ("" if all(r.status != "failed" for r in res) else f" [failed: {res[0].reason}]"), flush=True)
    if a.profile:
        c = configs[0]
        profile([Member(c, s, e) for e in reversed(schedules_for(c, budgets)) for s in range(a.seeds)], ds, a.device)
    print(
        f"fused: {epochs_all / tot['fused']:.2f} epochs/s, lone: {epochs_all / tot['lone']:.2f} epochs/s "
        f"({a.configs} configs, {a.seeds} seeds, ladder {budgets}, {a.threads} thread(s), {a.device})"
    )
    if epochs_naive:
        print(
            f"on the first {a.naive_configs} configs: naive {epochs_naive / tot['naive']:.2f} epochs/s, "
            f"lone/naive {tot['naive'] / tot['naive_lone']:.2f}"
        )
        print(f"fused/naive ratio (first {a.naive_configs} configs): {tot['naive'] / tot['naive_fused']:.2f}")
    print(f"max |fused - lone| final validation accuracy of a member: {gap:.4f}")
    print(f"fused/lone ratio: {tot['lone'] / tot['fused']:.2f}")


if __name__ == "__main__":
    main()
