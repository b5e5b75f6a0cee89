"""``tune``: live hyperparameter optimization with the real objective, on the wall clock.

Every evaluation trains now (``RealObjective``) and is appended to the table; the run is
written in the same study format as ``replay`` (per-run parquet, merged trajectories, one
manifest), so ``report`` reads either.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mfbench.core.errors import UsageError
from mfbench.core.io import atomic_write_text, jsonable
from mfbench.execution.runner import DEFAULT_MAX_EVALS, parse_budget
from mfbench.optimizers.base import for_objective
from mfbench.studies.manifest import read_study_manifest, study_manifest
from mfbench.studies.replay import ReplayResult, resolve_optimizers, seed_globals, summarize
from mfbench.studies.runfiles import merge_runs, run_filename, trajectory_schema, write_parquet_atomic, write_run

log = logging.getLogger(__name__)


def rescore_best_found(run_dir: Path, label: str) -> tuple[dict[str, float], dict[str, float]]:
    """Regret of every run of ``label`` in ``run_dir`` against the best incumbent found in any
    of them (a real objective has no known optimum); ``worst`` is the worst incumbent value."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((run_dir / "runs").glob(f"{label}__*.parquet"))
    frames = [pq.read_table(f, schema=trajectory_schema()).to_pandas() for f in files]
    inc = np.concatenate([f["incumbent_val_error"].to_numpy() for f in frames]) if frames else np.array([])
    finite = np.isfinite(inc)
    if not finite.any():
        raise UsageError(f"no evaluation of {label} finished within the budget: nothing to score")
    tests = np.concatenate([f["incumbent_test_error"].to_numpy() for f in frames])
    best = int(np.argmin(np.where(finite, inc, np.inf)))
    optimum = {"val_error": float(inc[best]), "test_error": float(tests[best])}
    bounds = {"best": optimum["val_error"], "worst": float(inc[finite].max())}
    span = bounds["worst"] - bounds["best"]
    for path, f in zip(files, frames):
        f["regret"] = f["incumbent_val_error"] - optimum["val_error"]
        f["normalized_regret"] = (f["incumbent_val_error"] - bounds["best"]) / span if span > 0 else 0.0 * f["regret"]
        f["test_regret"] = f["incumbent_test_error"] - optimum["test_error"]
        write_parquet_atomic(pa.Table.from_pandas(f, schema=trajectory_schema(), preserve_index=False), path)
    return optimum, bounds


def check_tune_options(
    *,
    dataset: str,
    budget: str | float,
    device: str,
    db: str | Path | None,
    space: str,
    out: str | Path | None,
    budgets: Sequence[int],
    seed: int,
    max_evals: int,
) -> None:
    """Everything ``tune`` can check before its calibration training appends to the table: a
    refusal after it would leave a training (or a failed row) behind."""
    from mfbench.training.data import DATASETS
    from mfbench.training.space import get_space

    if dataset not in DATASETS:
        raise UsageError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    get_space(space)
    if max_evals < 1:
        raise UsageError("--max-evals must be >= 1")
    if not 0 <= int(seed) < 2**31:
        raise UsageError("--seed must be between 0 and 2^31 - 1")
    if not budgets or any(not 1 <= int(b) <= 10_000 for b in budgets) or len(set(budgets)) != len(budgets):
        raise UsageError("--budgets must be distinct epoch counts between 1 and 10000")
    parse_budget(budget, 1.0)  # the syntax, and a positive amount; the seconds come after the calibration
    if device not in ("auto", "cpu", "cuda"):
        raise UsageError("--device must be auto, cpu or cuda")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available here")
    for path, opt in ((db, "--db"), (out, "--out")):
        if path is None:
            continue
        p = Path(path)
        if opt == "--db" and p.is_dir():
            raise UsageError(f"--db {p} is a folder; give a table file (.sqlite)")
        if opt == "--out" and p.exists() and not p.is_dir():
            raise UsageError(f"--out {p} is a file; give a folder")
        for parent in p.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise UsageError(f"{opt} {p}: {parent} is a file, not a folder")
                break
    if db is not None and Path(db).exists():
        from mfbench.tables.table import check_table_file

        check_table_file(db)


def tune(
    *,
    dataset: str = "digits",
    optimizer: str = "random",
    budget: str | float = "20x",
    device: str = "cpu",
    db: str | Path | None = None,
    space: str = "cnn",
    out: str | Path | None = None,
    budgets: Sequence[int] = (1, 3, 9, 27),
    seed: int = 0,
    max_evals: int = DEFAULT_MAX_EVALS,
    command: str | None = None,
) -> ReplayResult:
    """Tune with ``RealObjective``: every evaluation trains now and is appended to ``db``.

    ``budget="20x"`` is 20 x the measured time of a first max-budget training of the space's
    default configuration (the *calibration*: appended to the table, not part of the run).
    Training seed: the run seed for every evaluation, so the table stays dense (one seed per
    tune run). A real objective has no known optimum: the incumbent is scored by the mean of
    its max-budget trainings (its observed values while it has none), and regret is measured
    against the best incumbent value found in the run (manifest: ``optimum_source``)."""
    t_start = time.perf_counter()
    from mfbench.execution.runner import run_wall
    from mfbench.objectives.real import RealObjective

    check_tune_options(
        dataset=dataset,
        budget=budget,
        device=device,
        db=db,
        space=space,
        out=out,
        budgets=budgets,
        seed=seed,
        max_evals=max_evals,
    )
    ((opt_name, target),) = resolve_optimizers([optimizer]).items()
    module, attr = target.split(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise UsageError(f"optimizer {opt_name!r} needs a library that is not installed: {exc}") from None
    budgets = sorted(int(b) for b in budgets)
    db = Path(db) if db is not None else Path("tabular") / f"{dataset}-{space}-tune.sqlite"
    objective = RealObjective(dataset=dataset, space=space, db=str(db), device=device, budgets=tuple(budgets))
    label = f"{dataset}-{space}-real".replace("__", "_")
    run_dir = Path(out) if out is not None else Path("runs") / f"tune-{dataset}-{space}-{opt_name}-{seed}"
    old = read_study_manifest(run_dir / "manifest.json")
    if old and old.get("clock") != "wall":
        raise UsageError(f"{run_dir} holds a replay, not tune runs; use another --out")
    (run_dir / "runs").mkdir(parents=True, exist_ok=True)

    seed_globals(int(seed))
    calibration = None
    text = str(budget).strip().lower()
    if text.endswith("x"):
        default = {k: v for k, v in dict(objective.space.get_default_configuration()).items() if v is not None}
        from mfbench.training.space import to_config

        default = to_config(default)
        res = objective.evaluate(default, max(budgets), int(seed), mode="scratch")
        calibration = {
            "config": default,
            "budget": max(budgets),
            "seconds": float(res.cost_seconds),
            "val_error": float(res.val_error),
        }
        log.info("calibration: a %d-epoch training of the default config took %.1f s", max(budgets), res.cost_seconds)
    budget_seconds = parse_budget(budget, calibration["seconds"] if calibration else None)

    opt = for_objective(
        cls,
        objective,
        int(seed),
        budgets,
        full_budgets=budget_seconds / calibration["seconds"] if calibration else None,
    )

    def score(config: dict, cid: str, res: Any) -> tuple[float, float]:
        v, t = objective.true_value(config)
        if math.isfinite(v):
            return float(v), float(t)
        return float(res.val_error), float(res.metrics.get("test_error", math.nan))

    traj = run_wall(
        objective,
        opt,
        seed=int(seed),
        budget_seconds=budget_seconds,
        max_evals=max_evals,
        benchmark=label,
        score=score,
        training_seed=lambda i: int(seed),
    )
    if traj.n_evals == 0:
        raise UsageError(f"no evaluation finished within the budget of {budget_seconds:.0f} s; raise --budget")
    nan = {"val_error": math.nan, "test_error": math.nan}
    write_run(
        traj.columns(nan, {"best": math.nan, "worst": math.nan}), run_dir / "runs" / run_filename(label, opt_name, seed)
    )
    optimum, bounds = rescore_best_found(run_dir, label)
    frame = merge_runs(run_dir)
    entry = {
        "benchmark": label,
        "optimizer": opt_name,
        "seed": int(seed),
        "status": "ok",
        "error": None,
        "n_evals": traj.n_evals,
        "wall_seconds": traj.wall_seconds,
        "stopped_by": traj.stopped_by,
        "budget_seconds": budget_seconds,
    }
    man = objective.manifest()
    runs = {(r["benchmark"], r["optimizer"], r["seed"]): r for r in old.get("runs", [])}
    runs[(label, opt_name, int(seed))] = entry
    benchmark = {
        "kind": "real",
        "hash": man.get("hash") or man.get("table_sha256") or str(db),
        "ladder": budgets,
        "optimum": optimum,
        "bounds": bounds,
        "full_budget_seconds": calibration["seconds"] if calibration else math.nan,
        "dataset": dataset,
        "space": space,
        "db": str(db),
        "calibration": calibration,
        "objective": jsonable(man, strict=False),
    }
    manifest = study_manifest(
        command=command,
        clock="wall",
        seeds=sorted(set(old.get("seeds", [])) | {int(seed)}),
        seeds_by_benchmark={label: sorted(set(old.get("seeds", [])) | {int(seed)})},
        workers=1,
        count_overhead=True,
        budget={"spec": str(budget), "seconds": {label: budget_seconds}},
        benchmarks={label: benchmark},
        device=device,
        optimizers={**old.get("optimizers", {}), opt_name: jsonable(opt.describe(), strict=False)},
        runs=[runs[k] for k in sorted(runs)],
        optimum_source="best-found",
        python_hash_seed=None,
        noise_seeds="the run seed, for every evaluation",
    )
    atomic_write_text(run_dir / "manifest.json", json.dumps(manifest, indent=1, default=str))
    result = ReplayResult(out=run_dir, ran=1, ok=1, summary=summarize(frame, manifest["runs"]))
    result.seconds = time.perf_counter() - t_start
    return result
