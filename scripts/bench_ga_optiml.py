"""Overhead of ``ga``, ``ga-mf`` and ``optiml`` per ask + tell, beside ``random``, measured side
by side in one run on the ``cnn`` space (the objective's own time is excluded).

    python scripts/bench_ga_optiml.py [--evals 100] [--seeds 2]

Prints wall and CPU seconds per ask + tell and the ratio to random search (CPU time is the
honest number on a loaded machine).
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--evals", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--optimizers", default="random,ga,ga-mf,optiml")
    args = ap.parse_args()
    rows = {}
    for name in args.optimizers.split(","):
        runs = [overhead(name, args.evals, s) for s in range(args.seeds)]
        rows[name] = (sum(r[0] for r in runs) / len(runs), sum(r[1] for r in runs) / len(runs))
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
