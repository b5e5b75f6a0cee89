"""Overhead of ``ga``, ``ga-mf`` and ``optiml`` per ask + tell, beside ``random``, measured side
by side in one run on the ``cnn`` space (the objective's own time is excluded).

    python scripts/bench_ga_optiml.py [--evals 100] [--seeds 2]

Prints wall and CPU seconds per ask + tell and the ratio to random search (CPU time is the
honest number on a loaded machine).

    python scripts/bench_ga_optiml.py --old REV [--optimizers optiml] [--repeat 3]

times this checkout against another revision (or checkout path), alternately, each in a fresh
process on the same proposals (the optimizers are deterministic), and prints new/old of the
median CPU seconds per ask + tell.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from mfbench.objectives.synthetic import SyntheticObjective
from mfbench.optimizers.registry import make_optimizer
from mfbench.training.space import get_space


def overhead(name: str, evals: int, seed: int) -> tuple[float, float]:
    cs = get_space("cnn")
    obj = SyntheticObjective(cs, noise=0.02)
    opt = make_optimizer(name, cs, obj.budgets, seed)
    wall = cpu = 0.0
    for i in range(evals):
        w, c = time.perf_counter(), time.process_time()
        trial = opt.ask()
        wall += time.perf_counter() - w
        cpu += time.process_time() - c
        res = obj.evaluate(trial.config, trial.budget, i, mode=trial.mode, resume_from=trial.resume_from)
        w, c = time.perf_counter(), time.process_time()
        opt.tell(trial, res)
        wall += time.perf_counter() - w
        cpu += time.process_time() - c
    return wall / evals, cpu / evals


def measure(names: list[str], evals: int, seeds: int) -> dict[str, tuple[float, float]]:
    rows = {}
    for name in names:
        runs = [overhead(name, evals, s) for s in range(seeds)]
        rows[name] = (sum(r[0] for r in runs) / len(runs), sum(r[1] for r in runs) / len(runs))
    return rows


def compare(old: str, names: list[str], evals: int, seeds: int, repeat: int) -> None:
    """This checkout and ``old``, alternately, each in a child process: new/old CPU per eval."""
    from _checkout import REPO, checkout

    argv = [__file__, "--json", "--optimizers", ",".join(names), "--evals", str(evals), "--seeds", str(seeds)]
    with checkout(old) as old_path:
        cpu: dict[str, dict[str, list[float]]] = {"old": {n: [] for n in names}, "new": {n: [] for n in names}}
        for i in range(repeat):
            for which, path in (("old", old_path), ("new", REPO)):
                env = {**os.environ, "PYTHONPATH": str(path)}
                out = subprocess.run([sys.executable, *argv], cwd=path, env=env, check=True, capture_output=True)
                for n, (_, c) in json.loads(out.stdout).items():
                    cpu[which][n].append(c)
                print(
                    f"  run {i + 1} {which}: " + ", ".join(f"{n} {cpu[which][n][-1]:.4f} s" for n in names), flush=True
                )
    for n in names:
        new_s, old_s = statistics.median(cpu["new"][n]), statistics.median(cpu["old"][n])
        print(
            f"{n} new/old CPU per ask + tell: {new_s:.4f} s / {old_s:.4f} s = {new_s / old_s:.2f} (medians of {repeat})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--evals", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--optimizers", default="random,ga,ga-mf,optiml")
    ap.add_argument("--old", help="a git revision or checkout path to compare against (alternating)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each checkout with --old")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    names = args.optimizers.split(",")
    if args.old:
        compare(args.old, names, args.evals, args.seeds, args.repeat)
        return
    rows = measure(names, args.evals, args.seeds)
    if args.json:
        print(json.dumps(rows))
        return
    base = rows.get("random", (None, None))[1]
    print(
        f"{'optimizer':<10} {'wall s/eval':>12} {'cpu s/eval':>12} {'cpu / random':>13}   ({args.evals} evals, "
        f"{args.seeds} seeds, cnn space)"
    )
    for name, (wall, cpu) in rows.items():
        ratio = f"{cpu / base:13.1f}" if base else f"{'-':>13}"
        print(f"{name:<10} {wall:12.4f} {cpu:12.4f} {ratio}")


if __name__ == "__main__":
    main()
