"""Compare two study folders run by run: every trajectory column except the measured wall-clock
ones (``runner.TIMING_COLUMNS``) must be equal, bit for bit (NaN equal to NaN).

    python scripts/compare_studies.py BEFORE_STUDY AFTER_STUDY

Used to check that a change of structure left the default study's trajectories unchanged.
Exit status 0 when every run of BEFORE is in AFTER and identical, 1 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from mfbench.execution.runner import TIMING_COLUMNS


def compare(before: Path, after: Path) -> tuple[int, list[str]]:
    problems, n = [], 0
    files = sorted((before / "runs").glob("*.parquet"))
    for f in files:
        g = after / "runs" / f.name
        if not g.exists():
            problems.append(f"{f.name}: missing in {after}")
            continue
        a, b = pd.read_parquet(f), pd.read_parquet(g)
        if list(a.columns) != list(b.columns):
            problems.append(f"{f.name}: columns differ: {list(a.columns)} vs {list(b.columns)}")
            continue
        keep = [c for c in a.columns if c not in TIMING_COLUMNS]
        try:
            pd.testing.assert_frame_equal(a[keep], b[keep], check_exact=True)
        except AssertionError as exc:
            problems.append(f"{f.name}: {str(exc).splitlines()[0]}")
            continue
        n += 1
    extra = sorted({g.name for g in (after / "runs").glob("*.parquet")} - {f.name for f in files})
    problems += [f"{name}: only in {after}" for name in extra]
    return n, problems


def main() -> int:
    before, after = Path(sys.argv[1]), Path(sys.argv[2])
    n, problems = compare(before, after)
    print(f"{n} runs identical in every column but {', '.join(TIMING_COLUMNS)} ({before} vs {after})")
    for p in problems:
        print("DIFFERS", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
