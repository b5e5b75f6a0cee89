"""List (and with --drop delete) the runs of a table whose recorded seconds are artefacts of a
paused or starved machine (see mfbench/tables/timing.py); rerunning the table's collect command then
trains exactly those runs again: the same metrics, fresh seconds.

    python scripts/retime_outliers.py tabular/digits-cnn.sqlite [--ratio 5] [--min-seconds 2] [--drop]
"""

from __future__ import annotations

import argparse
import sys

from mfbench.core.errors import UsageError
from mfbench.tables.timing import drop_runs, timing_outliers


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--ratio", type=float, default=5.0)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--drop", action="store_true", help="delete them (one transaction)")
    a = ap.parse_args()
    try:
        rows = timing_outliers(a.db, a.ratio, a.min_seconds)
    except UsageError as exc:
        print(f"retime_outliers: error: {exc}", file=sys.stderr)
        return 2
    print(f"{'run':>5} {'config':<17} {'seed':>4} {'sched':>5} {'why':<8} {'epoch':>5} {'seconds':>9} {'typical':>8}")
    for r in rows:
        ep = "" if r["epoch"] is None else r["epoch"]
        print(
            f"{r['run_id']:>5} {r['config_id']:<17} {r['seed']:>4} {r['schedule_epochs']:>5} {r['why']:<8} "
            f"{ep:>5} {r['seconds']:>9.1f} {r['typical']:>8.2f}"
        )
    print(f"{len(rows)} runs with artefact timings in {a.db}")
    if a.drop and rows:
        n = drop_runs(a.db, [r["run_id"] for r in rows])
        print(f"dropped {n} runs; rerun the table's collect command to train them again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
