"""Benchmarks of the replay machinery, printed side by side (run: python scripts/bench_replay.py).

1. The runner's own overhead per evaluation: a full ``runner.run`` with a trivial optimizer
   (configs from a list) and a trivial objective (a fixed Result), minus the time the same
   asks/tells and evaluations take on their own. Two streams: configs that repeat (144 grid
   points: ids and validations cached) and configs that are all new (each one hashed, and
   validated when validation is on). Goal: <= 20 us per evaluation.
2. The speed-up of ``--jobs 2`` over ``--jobs 1`` for random search on the tabular default
   (``digits-grid`` when it loads, else ``synthetic-grid``), each pool warmed up first, each
   run long enough (``--budget``) that process start-up and transfers do not dominate.
   Goal: >= 1.8x (on an otherwise idle 2-core machine).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from mfbench.core.types import Result, Trial
from mfbench.execution.runner import run
from mfbench.objectives.base import Objective
from mfbench.optimizers.base import Optimizer
from mfbench.training.space import get_space, iter_grid, sample_configs


class ListOptimizer(Optimizer):
    name = "list"

    def __init__(self, space, budgets, seed, configs):
        super().__init__(space, budgets, seed)
        self.configs, self.i = configs, 0

    def ask(self):
        c = self.configs[self.i % len(self.configs)]
        self.i += 1
        return Trial(config=c, budget=self.max_budget)

    def tell(self, trial, result):
        pass


class FixedObjective(Objective):
    name = "fixed"

    def __init__(self, space):
        self.space, self.budgets, self._r = space, [1, 3, 9, 27], Result(0.1, 1.0, 27, {"test_error": 0.11})

    @property
    def optimum(self):
        return {"val_error": 0.0, "test_error": 0.0}

    def evaluate(self, config, budget, seed, *, mode="scratch", resume_from=None, curve=False):
        return self._r

    def true_value(self, config):
        return 0.1, 0.11


def runner_overhead(configs: list[dict], space, n: int, validate: bool, repeats: int = 3) -> float:
    """CPU seconds of runner time per evaluation (best of ``repeats``). CPU time of this
    process, not wall time: on a shared machine other processes' load must not count."""
    obj = FixedObjective(space)
    best = float("inf")
    for _ in range(repeats):
        opt = ListOptimizer(space, obj.budgets, 0, configs)
        t0 = time.process_time()
        traj = run(obj, opt, seed=0, budget_seconds=1e12, max_evals=n, validate=validate)
        t_loop = time.process_time() - t0
        assert traj.n_evals == n
        opt = ListOptimizer(space, obj.budgets, 0, configs)
        t0 = time.process_time()
        for i in range(n):
            t = opt.ask()
            obj.evaluate(t.config, t.budget, i, mode=t.mode, resume_from=t.resume_from)
            opt.tell(t, obj._r)
        t_parts = time.process_time() - t0
        best = min(best, (t_loop - t_parts) / n)
    return best


def _spin(n: int) -> int:
    s = 0
    for i in range(n):
        s += i
    return s


def machine_scaling(n: int = 5_000_000) -> float:
    """The machine's own ceiling: a pure-Python loop in 2 processes vs 1 (same loky pool kind)."""
    from joblib.externals.loky import get_reusable_executor

    ex = get_reusable_executor(max_workers=2)
    list(ex.map(_spin, [10, 10]))
    t0 = time.perf_counter()
    _spin(n)
    _spin(n)
    t1 = time.perf_counter() - t0
    t0 = time.perf_counter()
    list(ex.map(_spin, [n, n]))
    return t1 / (time.perf_counter() - t0)


def jobs_speedup(bench: str, budget: str, seeds: int) -> tuple[float, float, int]:
    from mfbench.studies.replay import replay

    tmp = Path(tempfile.mkdtemp(prefix="bench_replay_"))
    times = {}
    try:
        for jobs in (2, 1):  # 2 first: both workers start (and load the benchmark) in its warm-up
            replay([bench], ["random"], list(range(100, 104)), "2x", jobs=jobs, out=tmp / f"warm{jobs}", progress=False)
            t0 = time.perf_counter()
            res = replay(
                [bench], ["random"], list(range(seeds)), budget, jobs=jobs, out=tmp / f"j{jobs}", progress=False
            )
            times[jobs] = time.perf_counter() - t0
            assert res.ok == seeds, res.failures
        evals = int(sum(r["mean_evals"] for r in res.summary))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return times[1], times[2], evals


def print_overhead(n_evals: int) -> None:
    grid_space, cnn_space = get_space("cnn-grid"), get_space("cnn")
    rows = [
        ("repeating configs (144 grid points)", grid_space, list(iter_grid(grid_space))),
        ("all-new configs (cnn space)", cnn_space, sample_configs(cnn_space, n_evals, 0)),
    ]
    print("\n1. runner overhead per evaluation (loop - optimizer - objective), CPU time, best of 3")
    print(f"   {'stream':40s} {'validate=False':>16s} {'validate=True':>16s}")
    for label, space, configs in rows:
        off = runner_overhead(configs, space, n_evals, validate=False)
        on = runner_overhead(configs, space, n_evals, validate=True)
        print(f"   {label:40s} {off * 1e6:13.1f} us {on * 1e6:13.1f} us")
    print("   goal: <= 20 us per evaluation (validation is on in replay; it runs once per distinct config)")


def print_speedup(budget: str, seeds: int) -> None:
    bench = "digits-grid"
    try:
        from mfbench.studies.replay import load

        load(bench)
    except Exception as exc:  # noqa: BLE001 - any failure to load means: use the synthetic one
        print(f"\n({bench} not available: {exc}; using synthetic-grid)")
        bench = "synthetic-grid"
    ceiling = machine_scaling()
    t1, t2, evals = jobs_speedup(bench, budget, seeds)
    print(f"\n2. random search on {bench}, {seeds} runs of {budget} (~{evals} evaluations per run), wall time")
    print(f"   --jobs 1: {t1:7.1f} s   --jobs 2: {t2:7.1f} s   speed-up {t1 / t2:.2f}x   (goal >= 1.8x)")
    print(f"   this machine's ceiling now (a pure-Python loop, 2 processes vs 1): {ceiling:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evals", type=int, default=20000, help="evaluations per overhead measurement")
    ap.add_argument("--budget", default="15000x", help="per run, for the --jobs speed-up")
    ap.add_argument("--seeds", type=int, default=8, help="runs for the --jobs speed-up")
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--skip-jobs", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    if not args.skip_overhead:
        print_overhead(args.evals)
    if not args.skip_jobs:
        print_speedup(args.budget, args.seeds)


if __name__ == "__main__":
    main()
