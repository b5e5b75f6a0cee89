"""Reading a replay directory: its manifest and trajectories, reduced to the runs the report analyses.

``load_study(run_dir)`` reads ``run_dir/manifest.json`` and the trajectories (the per-run files
under ``runs/`` when present, they are written atomically; else ``trajectories.parquet``) and
applies the report's rules for what it uses:

- A run is used only if it finished (not failed, not missing). A run that finished without any
  evaluation (its manifest entry says ``ok`` with ``n_evals`` 0: its first training would have
  ended past the budget, as when Ray's Hyperband opens with a full-budget bracket of slow
  configurations) is used: it has no trajectory rows, so its regret is 1.0 throughout, the rule
  for a run with no result yet. Dropping it would drop its seed for every optimizer of the
  benchmark and hide the optimizer's worst outcomes. An optimizer with no usable run
  at all is left out. Within a benchmark only seeds on which every remaining optimizer has a
  usable run are kept (paired design); everything left out is listed with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mfbench.core.errors import UsageError, read_json

REQUIRED_COLUMNS = ("benchmark", "optimizer", "seed", "sim_time", "budget_fraction", "epochs_used", "normalized_regret")
RUN_KEY = ["benchmark", "optimizer", "seed"]


@dataclass
class StudyData:
    """A replay directory reduced to what the report analyses, and what it left out."""

    run_dir: Path
    manifest: dict[str, Any]
    trajectories: pd.DataFrame  # usable runs only, sorted by sim_time within each run
    benchmarks: list[str]
    optimizers: list[str]
    seeds: dict[str, list[int]]  # per benchmark: the paired seeds analysed
    exclusions: pd.DataFrame  # benchmark, optimizer, seed, reason
    dropped_benchmarks: dict[str, str] = field(default_factory=dict)
    dropped_optimizers: dict[str, str] = field(default_factory=dict)
    n_expected_runs: int = 0
    #: usable runs that ended without an evaluation: no trajectory rows, regret 1.0 throughout
    empty_runs: set[tuple[str, str, int]] = field(default_factory=set)
    #: per-run arrays that compute.py derives from ``trajectories`` once and reuses on every grid
    cache: dict[tuple, Any] = field(default_factory=dict, init=False, repr=False, compare=False)


def _concat_runs(paths: list[Path]) -> pd.DataFrame:
    """The per-run files as one frame, the same as ``pd.concat`` of each file read by pandas.

    A study has hundreds of small files; converting each to pandas cost more than reading it.
    When all files share one Arrow schema (the normal case) they are joined as Arrow tables and
    converted once; otherwise (e.g. a column typed differently in one file) pandas reads and joins
    them as before, with its own dtype rules.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(p) for p in paths]
    if all(t.schema.equals(tables[0].schema, check_metadata=True) for t in tables[1:]):
        return pa.concat_tables(tables).to_pandas()
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)


def _read_trajectories(run_dir: Path) -> pd.DataFrame:
    per_run = sorted((run_dir / "runs").glob("*.parquet")) if (run_dir / "runs").is_dir() else []
    try:
        if per_run:
            return _concat_runs(per_run)
        if (run_dir / "trajectories.parquet").is_file():
            return pd.read_parquet(run_dir / "trajectories.parquet")
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on a corrupt file
        raise UsageError(f"{run_dir}: unreadable trajectory file ({exc.__class__.__name__})") from None
    return pd.DataFrame(columns=list(REQUIRED_COLUMNS))


def load_study(run_dir: str | Path) -> StudyData:
    """Read a replay directory and decide which runs the report analyses (see module docstring)."""
    run_dir = Path(run_dir)
    mpath = run_dir / "manifest.json"
    if not mpath.is_file():
        raise UsageError(f"{run_dir}: not a replay directory (no manifest.json)")
    manifest = read_json(mpath)
    from mfbench.studies.manifest import check_study_manifest, ended_without_a_result

    check_study_manifest(mpath, manifest)
    traj = _read_trajectories(run_dir)
    missing_cols = [c for c in REQUIRED_COLUMNS if c not in traj.columns]
    if missing_cols:
        raise UsageError(f"{run_dir}: trajectories lack column(s) {', '.join(missing_cols)}")
    traj = traj.astype({"benchmark": str, "optimizer": str, "seed": int})
    traj["normalized_regret"] = traj["normalized_regret"].astype(float).fillna(1.0)
    # completion order within a run; a stable sort keeps the file order of simultaneous completions
    traj = traj.sort_values(["benchmark", "optimizer", "seed", "sim_time"], kind="stable").reset_index(drop=True)

    def keyed(rows: list[dict]) -> dict[tuple, dict]:
        return {(str(r.get("benchmark")), str(r.get("optimizer")), int(r.get("seed"))): r for r in rows or []}

    runs, failures = keyed(manifest.get("runs", [])), keyed(manifest.get("failures", []))
    have = set(traj[RUN_KEY].drop_duplicates().itertuples(index=False, name=None))
    benchmarks = list(
        dict.fromkeys([*manifest.get("benchmarks", {}), *traj["benchmark"].unique(), *(k[0] for k in runs)])
    )
    optimizers = list(
        dict.fromkeys([*manifest.get("optimizers", {}), *traj["optimizer"].unique(), *(k[1] for k in runs)])
    )
    seeds = sorted({int(s) for s in manifest.get("seeds", [])} | {k[2] for k in have} | {k[2] for k in runs})
    by_bench = manifest.get("seeds_by_benchmark") if isinstance(manifest.get("seeds_by_benchmark"), dict) else {}

    def seeds_of(b: str) -> list[int]:
        """The seeds asked for on ``b`` (a study may give benchmarks different seeds) and any it ran."""
        if b not in by_bench:
            return seeds
        return sorted(
            {int(s) for s in by_bench[b]} | {k[2] for k in have if k[0] == b} | {k[2] for k in runs if k[0] == b}
        )

    excl: list[dict[str, Any]] = []
    usable: set[tuple] = set()
    empty: set[tuple] = set()
    for b in benchmarks:
        for o in optimizers:
            for s in seeds_of(b):
                key, run = (b, o, s), runs.get((b, o, s), {})
                status = run.get("status")
                if key in failures or status == "failed":
                    err = (failures.get(key) or {}).get("error") or run.get("error") or "no error message"
                    reason = f"failed: {err}"
                elif status not in (None, "ok"):
                    reason = f"status {status!r}: {run.get('error') or 'no error message'}"
                elif key not in have and ended_without_a_result(run):
                    usable.add(key)
                    empty.add(key)
                    continue
                elif key not in have:
                    reason = (
                        "missing: listed as ok in the manifest but has no trajectory rows"
                        if status == "ok"
                        else "missing: no trajectory (not run)"
                    )
                else:
                    usable.add(key)
                    continue
                excl.append({"benchmark": b, "optimizer": o, "seed": s, "reason": reason})
    n_expected = len(optimizers) * sum(len(seeds_of(b)) for b in benchmarks)
    dropped_opt = {o: "no usable run on any benchmark" for o in optimizers if not any(k[1] == o for k in usable)}
    optimizers = [o for o in optimizers if o not in dropped_opt]
    paired: dict[str, list[int]] = {}
    dropped_bench: dict[str, str] = {}
    for b in benchmarks:
        ok = [s for s in seeds_of(b) if all((b, o, s) in usable for o in optimizers)]
        for s in seeds_of(b):
            if s in ok:
                continue
            lacking = [o for o in optimizers if (b, o, s) not in usable]
            for o in optimizers:
                if (b, o, s) in usable:
                    excl.append(
                        {
                            "benchmark": b,
                            "optimizer": o,
                            "seed": s,
                            "reason": "dropped to keep seeds paired: no usable run of " + ", ".join(lacking),
                        }
                    )
        if ok and optimizers:
            paired[b] = ok
        else:
            dropped_bench[b] = "no seed on which every optimizer has a usable run"
    benchmarks = [b for b in benchmarks if b in paired]
    if not benchmarks or not optimizers:
        raise UsageError(
            f"{run_dir}: no usable runs to report ({len(excl)} excluded, e.g. "
            f"{excl[0]['reason'] if excl else 'no trajectories'})"
        )
    keep = pd.MultiIndex.from_tuples(
        [(b, o, s) for b in benchmarks for o in optimizers for s in paired[b]], names=RUN_KEY
    )
    idx = pd.MultiIndex.from_frame(traj[RUN_KEY])
    traj = traj[idx.isin(keep)].reset_index(drop=True)
    exclusions = pd.DataFrame(excl, columns=["benchmark", "optimizer", "seed", "reason"])
    kept = set(keep)
    return StudyData(
        run_dir,
        manifest,
        traj,
        benchmarks,
        optimizers,
        paired,
        exclusions,
        dropped_bench,
        dropped_opt,
        n_expected,
        empty_runs={k for k in empty if k in kept},
    )
