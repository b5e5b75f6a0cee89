"""Old runs against their reruns, per optimizer: what a change to how an optimizer is driven did
to its results (session 11: SMAC told that LCBench is deterministic).

    python scripts/compare_superseded_runs.py runs/lcbench/superseded/smac-nondeterministic runs/lcbench/runs

For every run file present in both folders: evaluations, repeated evaluations and final
normalized regret, old and new, averaged per optimizer; and on how many of the paired runs the
new final regret is lower / equal / higher. Prints a table; nothing is written.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd


def main(old_dir: str, new_dir: str) -> int:
    pairs = defaultdict(list)
    for f in sorted(Path(old_dir).glob("*.parquet")):
        g = Path(new_dir) / f.name
        if not g.exists():
            continue
        old, new = pd.read_parquet(f), pd.read_parquet(g)
        opt = str(old["optimizer"].iloc[0])
        pairs[opt].append(
            (
                len(old),
                len(new),
                int(old["repeat"].sum()),
                int(new["repeat"].sum()),
                float(old["normalized_regret"].iloc[-1]),
                float(new["normalized_regret"].iloc[-1]),
            )
        )
    if not pairs:
        print("no run is in both folders")
        return 1
    print(f"old: {old_dir}\nnew: {new_dir}\n")
    head = "optimizer     runs  evals old→new  repeats % old→new  final norm. regret old→new  new lower/equal/higher"
    print(head)
    for opt, rows in sorted(pairs.items()):
        df = pd.DataFrame(rows, columns=["e0", "e1", "r0", "r1", "g0", "g1"])
        lower, equal = int((df.g1 < df.g0).sum()), int((df.g1 == df.g0).sum())
        print(
            f"{opt:<13} {len(df):>4}  {df.e0.mean():6.1f} → {df.e1.mean():<6.1f}"
            f"  {100 * df.r0.sum() / df.e0.sum():5.1f} → {100 * df.r1.sum() / df.e1.sum():<5.1f}"
            f"      {df.g0.mean():.4f} → {df.g1.mean():.4f}"
            f"          {lower}/{equal}/{len(df) - lower - equal}"
        )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
