"""How much of a ranking over benchmarks is the optimizers' seeds? Per-seed average ranks of a study.

    python scripts/seed_agreement.py runs/lcbench [--fraction 1.0] [--fraction 0.25]

For each budget fraction: every optimizer's average rank (over the benchmarks that have every
seed) on each seed alone, the Spearman correlation of each seed's ranking with the ranking of
all the other seeds together, and the report's seed split (``analysis/reproducibility.py``).
Session 12 found on LCBench that the seed-0 ranking and the seeds-1-4 ranking agreed at 0.41
where the report's task split said 0.92; this prints the same figures for any study. Reads
only; the study folder is not changed.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from scipy import stats as sst

from mfbench.analysis.report.compute import seed_cube
from mfbench.analysis.report.load import load_study
from mfbench.analysis.reproducibility import seed_split
from mfbench.analysis.stats import rank_rows
from mfbench.core.errors import UsageError


def average_ranks(cube: np.ndarray) -> np.ndarray:
    """Average over benchmarks of the optimizers' ranks on the seed-averaged regret (1 = best)."""
    return rank_rows(cube.mean(axis=1)).mean(axis=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--fraction", type=float, action="append", help="budget fraction(s); default 0.25 and 1")
    a = p.parse_args(argv)
    try:
        study = load_study(a.run_dir)
    except UsageError as exc:
        print(f"seed_agreement: {exc}", file=sys.stderr)
        return 2
    n_all = len(study.benchmarks)
    most = max(len(s) for s in study.seeds.values())
    study.benchmarks = [b for b in study.benchmarks if len(study.seeds[b]) == most]
    opts = study.optimizers
    print(f"{a.run_dir}: {len(study.benchmarks)} of {n_all} benchmarks have all {most} seeds; {len(opts)} optimizers")
    for f in a.fraction or [0.25, 1.0]:
        cube, seeds = seed_cube(study, f)
        every = average_ranks(cube)
        per_seed = [average_ranks(cube[:, [j]]) for j in range(len(seeds))]
        print(f"\n--- {100 * f:g} % of the budget; normalized regret; average rank over benchmarks (1 = best)")
        order = np.argsort(every)
        head = "".join(f"  seed {s:>3}" for s in seeds)
        print(f"{'optimizer':14s}  all seeds{head}   range")
        for i in order:
            cells = "".join(f"  {r[i]:8.2f}" for r in per_seed)
            lo, hi = min(r[i] for r in per_seed), max(r[i] for r in per_seed)
            print(f"{opts[i]:14s}  {every[i]:9.2f}{cells}   {lo:.1f}-{hi:.1f}")
        print("Spearman of one seed's ranking with the other seeds' ranking:")
        for j, s in enumerate(seeds):
            rest = average_ranks(np.delete(cube, j, axis=1))
            print(f"  seed {s}: {sst.spearmanr(per_seed[j], rest).statistic:.2f}")
        print("Report's seed split:", seed_split(cube).reading())
    return 0


if __name__ == "__main__":
    sys.exit(main())
