"""Check, from a replay's output alone, that a continued training is one training: every
evaluation of a lineage has one configuration and one training seed, and its budgets rise.

    python scripts/check_lineages.py runs/default

Prints per benchmark and optimizer: evaluations, trainings (lineages), trainings continued at
least once, and how many of those read more than one training seed or configuration (0 is
right). Runs written before lineages existed (no ``lineage`` column) are reported as such.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def check(run_dir: Path) -> pd.DataFrame:
    files = sorted((run_dir / "runs").glob("*.parquet"))
    if not files:
        raise SystemExit(f"{run_dir}: no runs/*.parquet")
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    if "lineage" not in frame.columns:
        raise SystemExit(f"{run_dir}: trajectories without a lineage column (written before session 6)")
    rows = []
    for (bench, opt), sub in frame.groupby(["benchmark", "optimizer"], sort=True):
        g = sub.groupby(["seed", "lineage"])
        size = g.size()
        seeds = g["training_seed"].nunique(dropna=False)
        configs = g["config_id"].nunique()
        rising = g["budget"].apply(lambda b: bool((b.diff().dropna() > 0).all()))
        continued = size > 1
        rows.append(
            {
                "benchmark": bench,
                "optimizer": opt,
                "evaluations": len(sub),
                "trainings": len(size),
                "continued": int(continued.sum()),
                "switched_seed": int((continued & (seeds > 1)).sum()),
                "switched_config": int((configs > 1).sum()),
                "budget_not_rising": int((continued & ~rising).sum()),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    out = check(parser.parse_args().run_dir)
    print(out.to_string(index=False))
    bad = int(out[["switched_seed", "switched_config", "budget_not_rising"]].to_numpy().sum())
    print(f"\n{int(out['continued'].sum())} continued trainings; {bad} break the one-training rule")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
