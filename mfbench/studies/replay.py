"""A replay study: benchmarks x optimizers x seeds, each run an independent job.

Each (benchmark, optimizer, seed) runs in a worker process (a loky pool, or a Dask cluster)
started with a fixed ``PYTHONHASHSEED`` (``HASH_SEED``) and one BLAS thread, and with Python's,
numpy's and (when loaded) torch's global generators seeded from the run seed at the start of
the job, so that the same seed gives the same trajectory bit for bit in any process (only the
measured ``overhead_seconds`` differ). A job that raises loses that run only: it is recorded in the
manifest's ``failures``. Finished runs are written atomically to
``runs/<benchmark>__<optimizer>__<seed>.parquet``; a rerun of the same command skips them.
``trajectories.parquet`` and ``manifest.json`` are rewritten from all per-run files at the
end of every replay.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import random
import sys
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mfbench.core.errors import UsageError
from mfbench.core.io import atomic_write_text, hold_exclusive, jsonable
from mfbench.core.progress import RunProgress
from mfbench.execution.pool import dask_client, dask_results, loky_results
from mfbench.execution.runner import DEFAULT_MAX_EVALS, parse_budget, run
from mfbench.objectives.base import Objective
from mfbench.objectives.synthetic import SYNTHETIC, SyntheticBenchmark
from mfbench.optimizers.base import for_objective
from mfbench.studies.defaults import (  # the study's defaults, in a light module the CLI reads too
    DEFAULT_BENCHMARKS,
    DEFAULT_BUDGET,
    DEFAULT_OUT,
    DEFAULT_SEEDS,
    DEFAULT_STUDY_SEEDS,
)
from mfbench.studies.manifest import ended_without_a_result, read_study_manifest, settings_digest, study_manifest
from mfbench.studies.runfiles import (
    merge_runs,
    remove_stale_temporaries,
    run_filename,
    set_aside_unreadable_runs,
    write_run,
)

log = logging.getLogger(__name__)

#: The fixed hash seed of every job process. Not 0: a Dask nanny replaces 0 (and an unset value)
#: by 6640 before it spawns a worker (distributed PR 8400), so 6640 is the one value under which
#: local jobs and jobs on a default Dask cluster hash strings alike (set iteration order, which
#: SMAC's local search depends on).
HASH_SEED = "6640"

#: set in every local job process before its interpreter starts (one BLAS thread: the same
#: floating-point reductions whatever ``--jobs`` is)
CHILD_ENV = {"PYTHONHASHSEED": HASH_SEED, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
#: how often a replay rewrites the study manifest while runs finish (a killed replay keeps its record)
MANIFEST_CHECKPOINT_SECONDS = 60.0


# --------------------------------------------------------------------------------------
# Benchmarks
# --------------------------------------------------------------------------------------


_SYNTHETIC_CACHE: dict[str, SyntheticBenchmark] = {}


def load(spec: str) -> Objective:
    """A benchmark by name: the synthetic ones (``objectives.synthetic``), everything else through
    ``mfbench.objectives.registry.load_benchmark`` (shipped names or a path to a table/surrogate)."""
    if spec in SYNTHETIC:
        if spec not in _SYNTHETIC_CACHE:
            _SYNTHETIC_CACHE[spec] = SyntheticBenchmark(SYNTHETIC[spec], spec)
        return _SYNTHETIC_CACHE[spec]
    from mfbench.objectives.registry import load_benchmark

    try:
        return load_benchmark(spec)
    except UsageError as exc:
        if str(exc).startswith("unknown benchmark"):
            raise UsageError(f"{exc}; or one of {', '.join(SYNTHETIC)}") from None
        raise


def label_of(spec: str, objective: Objective) -> str:
    """The benchmark's name in file names and tables: the spec, or the objective's name when
    the spec is a path."""
    from mfbench.core.io import safe_name

    name = spec if not any(ch in spec for ch in "/\\.") else str(getattr(objective, "name", "") or Path(spec).stem)
    # a name from a table's meta or a surrogate's manifest becomes a file name under runs/
    return safe_name(name.replace("__", "_"), f"benchmark name of {spec}")


def kind_of(objective: Objective) -> str:
    kind = objective.kind or objective.manifest().get("kind", type(objective).__name__)
    kind = str(kind).lower()
    return kind[: -len("objective")] if kind.endswith("objective") else kind


def benchmark_info(objective: Objective) -> dict[str, Any]:
    """The manifest's description of one benchmark."""
    man = objective.manifest()
    hash_ = man.get("hash")
    if hash_ is None:  # what identifies the data and models (hashes inside), wherever the files lie
        import hashlib

        ident = {k: v for k, v in man.items() if k not in ("path", "name", "db")}
        hash_ = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]
    info = {
        "kind": kind_of(objective),
        "hash": hash_,
        "ladder": [int(b) for b in objective.budgets],
        "optimum": {k: float(v) for k, v in objective.optimum.items()},
        "bounds": {k: float(v) for k, v in objective.bounds.items()},
        "full_budget_seconds": float(objective.full_budget_cost()),
        "objective": jsonable(man, strict=False),
    }
    surrogate = getattr(objective, "surrogate", None)
    if info["kind"] == "surrogate" and surrogate is not None:
        # beside the hash, not inside it: recording gate figures does not change the benchmark
        from mfbench.surrogates.gates import surrogate_gate_line

        info["gates"] = surrogate_gate_line(surrogate)
    return info


# --------------------------------------------------------------------------------------
# One job (runs in a worker process)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """Everything one replay run needs, (benchmark, optimizer, seed) and its settings, in plain
    picklable values: it is what a worker process (local, Dask or Ray) receives."""

    benchmark: str  # the spec load() resolves (a name or a path)
    label: str
    optimizer: str
    seed: int
    target: str  # "module:Class" from the driver's registry, so that a registered optimizer reaches workers
    budget_seconds: float
    workers: int = 1
    count_overhead: bool = False
    max_evals: int = DEFAULT_MAX_EVALS
    validate: bool = True
    require_fixed_hash: bool = True
    optimum: tuple[tuple[str, float], ...] = ()  # the parent's reference, so regrets match the manifest
    bounds: tuple[tuple[str, float], ...] = ()

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.label, self.optimizer, self.seed)

    @property
    def filename(self) -> str:
        return run_filename(self.label, self.optimizer, self.seed)


def seed_globals(seed: int) -> None:
    """Seed the global generators that some libraries read (never ours: ours are local)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def run_optimizer(cls: type, objective: Objective, seed: int, budget_seconds: float) -> Any:
    """The optimizer of one replay run, built as every run builds it: told the objective and how
    many full-budget evaluations the run's budget buys (``scripts/redigest_settings.py`` rebuilds
    recorded runs' optimizers with it, so their settings are the ones the runs had)."""
    full_cost = float(objective.full_budget_cost())
    full_budgets = budget_seconds / full_cost if full_cost > 0 else None
    return for_objective(cls, objective, seed, full_budgets=full_budgets)


def run_job(job: RunSpec) -> dict[str, Any]:
    """Run one (benchmark, optimizer, seed); never raises for a problem of the run itself."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {
        "key": job.key,
        "status": "failed",
        "error": None,
        "n_evals": 0,
        "columns": None,
        "settings": None,
        "stopped_by": None,
    }
    try:
        if job.require_fixed_hash and os.environ.get("PYTHONHASHSEED") != HASH_SEED:
            raise RuntimeError(
                f"this worker was not started with PYTHONHASHSEED={HASH_SEED}, so the run would not be reproducible"
            )
        seed_globals(job.seed)
        objective = load(job.benchmark)
        module, name = job.target.split(":")
        cls = getattr(importlib.import_module(module), name)
        opt = run_optimizer(cls, objective, job.seed, job.budget_seconds)
        traj = run(
            objective,
            opt,
            seed=job.seed,
            budget_seconds=job.budget_seconds,
            workers=job.workers,
            count_overhead=job.count_overhead,
            max_evals=job.max_evals,
            validate=job.validate,
            benchmark=job.label,
        )
        out.update(
            status="ok",
            n_evals=traj.n_evals,
            stopped_by=traj.stopped_by,
            columns=traj.columns(dict(job.optimum), dict(job.bounds)),
            settings=jsonable(opt.describe(), strict=False),
        )
    except Exception as exc:  # one run's failure never stops the study
        out["error"] = f"{type(exc).__name__}: {exc}"[:1000]
        out["traceback"] = traceback.format_exc()[-4000:]
    out["wall_seconds"] = time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------------------
# Executors
# --------------------------------------------------------------------------------------


def _execute_local(todo: list[RunSpec], jobs: int, log_dir: Path | None = None) -> Iterator[dict[str, Any]]:
    """Runs in loky worker processes (``execution.pool``). With ``log_dir``, what a run's
    libraries print goes to ``log_dir/<run>.log`` (``mfbench.core.runlog``)."""
    from mfbench.core.runlog import captured_call

    def args_of(job: RunSpec) -> tuple:
        return (run_job, job, None if log_dir is None else str(log_dir / Path(job.filename).with_suffix(".log")))

    return loky_results(captured_call, todo, args_of, workers=jobs, env=CHILD_ENV, failure=_lost)


def _check_dask_reachable(address: Any) -> None:
    """Refuse a Dask scheduler nobody answers at, in one line, before anything is written."""
    if hasattr(address, "submit"):  # a client the caller holds
        return
    from distributed import Client  # present: replay() checked it with extras.require

    try:
        Client(address, timeout="10s").close()
    except Exception as exc:  # noqa: BLE001  (OSError, TimeoutError, ValueError for a malformed address)
        raise UsageError(
            f"cannot reach the Dask scheduler at {address!r} ({type(exc).__name__}); is it running?"
        ) from None


def _execute_dask(todo: list[RunSpec], address: Any) -> Iterator[dict[str, Any]]:
    with dask_client(address) as client:
        seeds = client.run(_hash_seed)
        unfixed = sorted(w for w, s in seeds.items() if s != HASH_SEED)
        if unfixed:
            raise UsageError(
                f"Dask workers {', '.join(unfixed)} were not started with PYTHONHASHSEED={HASH_SEED} "
                "(the default of a worker started by a nanny, e.g. `dask worker ADDRESS`)"
            )
        yield from dask_results(
            client, run_job, todo, lambda job: (job,), lambda job: f"replay-{job.filename}", failure=_lost
        )


def _execute_ray(todo: list[RunSpec], address: str) -> Iterator[dict[str, Any]]:
    from mfbench.execution.ray_engine import execute_ray

    return execute_ray(todo, address, run_job, CHILD_ENV, _lost)


def _lost(exc: Exception, job: RunSpec) -> dict[str, Any]:
    return {
        "key": job.key,
        "status": "failed",
        "error": f"worker lost: {type(exc).__name__}: {exc}"[:1000],
        "n_evals": 0,
        "columns": None,
        "settings": None,
        "wall_seconds": math.nan,
    }


def _hash_seed() -> str | None:
    return os.environ.get("PYTHONHASHSEED")


# --------------------------------------------------------------------------------------
# The study
# --------------------------------------------------------------------------------------


@dataclass
class ReplayResult:
    out: Path
    ran: int = 0
    skipped: int = 0
    ok: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    report: Path | None = None  # set by the caller that writes the report (cli/replay)
    seconds: float = 0.0
    notices: list[str] = field(default_factory=list)  # once per optimizer: an exhausted space
    gates: dict[str, str] = field(default_factory=dict)  # surrogate benchmark -> its gate line
    labels: list[str] = field(default_factory=list)  # this invocation's benchmarks, as named in the folder

    @property
    def all_failed(self) -> bool:
        """Every requested run failed (the CLI's only non-zero exit for a study that ran)."""
        return self.ok == 0 and self.failed > 0


def resolve_optimizers(names: Sequence[str] | str | None) -> dict[str, str]:
    """Optimizer name -> ``"module:Class"`` target. ``None``: every registered optimizer whose
    libraries import; ``"all"``: every registered one (a missing library then fails its runs);
    else the names, each a registered name or a ``module:Class`` target of an ``Optimizer``
    subclass (known by its ``name``), so that a new optimizer plugs in without registration."""
    from mfbench.optimizers.registry import REGISTRY, available, get_optimizer_class

    if names is None:
        from mfbench.core.extras import NEEDS, missing_for

        usable = {}
        for name in available():
            try:
                if REGISTRY[name].split(":")[0] in NEEDS:  # the libraries' presence, without importing them
                    if (lib := missing_for(REGISTRY[name])) is not None:
                        raise ImportError(f"no module named {lib!r}")
                else:
                    get_optimizer_class(name)
                usable[name] = REGISTRY[name]
            except (UsageError, ImportError, AttributeError) as exc:
                log.info("optimizer %s is not usable here, left out of the default study: %s", name, exc)
        return usable
    if names == "all" or list(names) == ["all"]:
        return {name: REGISTRY[name] for name in available()}
    out: dict[str, str] = {}
    for spec in [names] if isinstance(names, str) else names:
        if ":" in spec:
            module, attr = spec.split(":", 1)
            try:
                cls = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise UsageError(f"cannot import optimizer {spec!r}: {exc}") from None
            from mfbench.optimizers.base import Optimizer

            if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
                raise UsageError(f"optimizer {spec!r} is not a subclass of mfbench.optimizers.base.Optimizer")
            name = str(getattr(cls, "name", attr))
            if not name or "__" in name or "/" in name or "\\" in name or name in (".", ".."):
                raise UsageError(f"optimizer {spec!r} needs a name without '__' or '/', not {name!r}")
            if name in REGISTRY and REGISTRY[name] != spec:
                raise UsageError(f"optimizer {spec!r} is named {name!r}, like the registered {REGISTRY[name]}")
            out[name] = spec
        elif spec in REGISTRY:
            get_optimizer_class(spec)  # a missing library: one line naming the extra that installs it
            out[spec] = REGISTRY[spec]
        else:
            raise UsageError(f"unknown optimizer {spec!r}; known: {', '.join(available())}, all, or module:Class")
    return out


def default_benchmarks() -> list[str]:
    found = []
    for name in DEFAULT_BENCHMARKS:
        try:
            load(name)
            found.append(name)
        except UsageError as exc:
            log.warning("default benchmark %s is not available: %s", name, exc)
    if not found:
        raise UsageError(
            f"none of the shipped benchmarks ({', '.join(DEFAULT_BENCHMARKS)}) is available here; "
            f"name some with --benchmarks (e.g. {', '.join(SYNTHETIC)}, or a table's path)"
        )
    return found


TRAJECTORY_FORMAT = 2


def replay(
    benchmarks: Sequence[str] | None = None,
    optimizers: Sequence[str] | str | None = None,
    seeds: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
    budget: str | float = DEFAULT_BUDGET,
    *,
    workers: int = 1,
    jobs: int | None = None,
    dask: Any = None,
    ray: str | None = None,
    out: str | Path = DEFAULT_OUT,
    count_overhead: bool = False,
    max_evals: int = DEFAULT_MAX_EVALS,
    validate: bool = True,
    progress: bool = True,
    command: str | None = None,
    quiet: bool = True,
) -> ReplayResult:
    """Run every (benchmark, optimizer, seed) that ``out`` does not hold yet, then merge.
    ``seeds``: one list for every benchmark, or a list per benchmark name (others get
    ``DEFAULT_SEEDS``); None: ``DEFAULT_STUDY_SEEDS`` for the default study, else ``DEFAULT_SEEDS``.
    ``quiet``: what a local run's libraries print goes to ``out/logs/<run>.log``, not the terminal."""
    t_start = time.perf_counter()
    if ray is not None:  # before anything is written: a wrong address is one clear line
        from mfbench.execution.ray_engine import check_engine

        check_engine(ray, dask)
    if workers < 1:
        raise UsageError("--workers must be >= 1")
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be >= 1")
    if max_evals < 1:
        raise UsageError("--max-evals must be >= 1")
    if dask is not None and not hasattr(dask, "submit"):
        from mfbench.core.extras import require

        require("distributed", "--dask")
    if seeds is None:
        seeds = DEFAULT_SEEDS if benchmarks else DEFAULT_STUDY_SEEDS
    by_bench = {str(k): [int(x) for x in v] for k, v in seeds.items()} if isinstance(seeds, Mapping) else None
    flat = [int(x) for x in seeds] if by_bench is None else []
    if (by_bench is None and not flat) or (by_bench is not None and not all(by_bench.values())):
        raise UsageError("no seeds")

    def seeds_of(label: str) -> list[int]:
        return flat if by_bench is None else by_bench.get(label, list(DEFAULT_SEEDS))

    if benchmarks:
        from mfbench.objectives.registry import expand_suites

        specs = expand_suites(list(benchmarks))
    else:
        specs = default_benchmarks()
    run_dir = Path(out)
    # format 2: trajectories record lineage, training seed and repeats, and continued trainings
    # keep their seed (issue 15); a folder of format-1 runs would mix two protocols
    study = {
        "budget_spec": str(budget),
        "workers": workers,
        "count_overhead": bool(count_overhead),
        "max_evals": int(max_evals),
        "trajectory_format": TRAJECTORY_FORMAT,
    }
    manifest_path = run_dir / "manifest.json"
    prior = read_study_manifest(manifest_path)
    _check_same_study(run_dir, prior, study)  # before anything is created

    bench_info: dict[str, dict[str, Any]] = {}
    budget_seconds: dict[str, float] = {}
    job_specs: list[tuple[str, str]] = []
    for spec in specs:
        objective = load(spec)
        label = label_of(spec, objective)
        if label in bench_info:
            raise UsageError(f"two benchmarks are both named {label!r}")
        bench_info[label] = benchmark_info(objective)
        budget_seconds[label] = parse_budget(budget, bench_info[label]["full_budget_seconds"])
        # a path reaches the workers absolute: a reused worker pool may run in another folder
        job_specs.append((str(Path(spec).resolve()) if Path(spec).exists() else spec, label))

    _check_same_benchmarks(run_dir, prior, bench_info)
    targets = resolve_optimizers(optimizers)  # after the benchmarks: importing every library takes a while
    if not targets:
        raise UsageError("no optimizer is usable here")
    all_jobs = [
        RunSpec(
            spec,
            label,
            opt,
            seed,
            targets[opt],
            budget_seconds[label],
            workers,
            bool(count_overhead),
            int(max_evals),
            validate,
            optimum=tuple(sorted(bench_info[label]["optimum"].items())),
            bounds=tuple(sorted(bench_info[label]["bounds"].items())),
        )
        for spec, label in job_specs
        for opt in targets
        for seed in seeds_of(label)
    ]
    if dask is not None and ray is None:
        _check_dask_reachable(dask)  # before the study folder is created
    (run_dir / "runs").mkdir(parents=True, exist_ok=True)
    # one replay at a time per study folder: two at once would run every run twice and each
    # write a manifest missing the other's runs; the second is refused with one line
    held = hold_exclusive(
        run_dir, f"{run_dir} is being written by another mfbench replay; wait for it to finish, or use another --out"
    )
    try:
        old = read_study_manifest(manifest_path)  # again, under the lock: a replay may have finished meanwhile
        _check_same_study(run_dir, old, study)
        _check_same_benchmarks(run_dir, old, bench_info)
        remove_stale_temporaries(run_dir)
        set_aside_unreadable_runs(run_dir)
        todo = [j for j in all_jobs if not (run_dir / "runs" / j.filename).exists()]
        result = ReplayResult(out=run_dir, skipped=len(all_jobs) - len(todo), labels=[lb for _, lb in job_specs])
        result.gates = {b: i["gates"] for b, i in bench_info.items() if isinstance(i.get("gates"), str)}
        log.info(
            "replay: %d benchmarks x %d optimizers x %s seeds = %d runs; %d already done, %d to run",
            len(specs),
            len(targets),
            "/".join(str(len(seeds_of(lb))) for _, lb in job_specs),
            len(all_jobs),
            result.skipped,
            len(todo),
        )

        runs: dict[tuple, dict[str, Any]] = {
            (r["benchmark"], r["optimizer"], r["seed"]): r
            for r in old.get("runs", [])
            if r.get("status") != "ok"  # a finished run whose file is gone is not
            or (run_dir / "runs" / run_filename(r["benchmark"], r["optimizer"], r["seed"])).exists()
        }
        settings: dict[str, Any] = dict(old.get("optimizers", {}))
        # runs finished by an earlier replay whose manifest was lost still count (once, here: this
        # replay writes each run's entry as it writes the run's file)
        for j in all_jobs:
            if j.key not in runs and (run_dir / "runs" / j.filename).exists():
                runs[j.key] = _recovered_entry(j, run_dir / "runs" / j.filename)
        old_seeds_by_benchmark = old.get("seeds_by_benchmark") or {
            b: list(old.get("seeds", [])) for b in old.get("benchmarks", {})
        }

        def write_manifest() -> dict[str, Any]:
            """The study's manifest as it stands: every run finished so far, by this replay or an
            earlier one. Written at the end and every ``MANIFEST_CHECKPOINT_SECONDS`` while runs
            finish, so that a replay killed hours into a long study (a session's end) keeps the
            record of what it ran: wall time, evaluations, settings and digest of each run."""
            manifest = study_manifest(
                command=command,
                clock="simulated",
                seeds=sorted(set(old.get("seeds", [])) | {x for _, lb in job_specs for x in seeds_of(lb)}),
                seeds_by_benchmark={
                    **old_seeds_by_benchmark,
                    **{lb: sorted(set(old_seeds_by_benchmark.get(lb, [])) | set(seeds_of(lb))) for _, lb in job_specs},
                },
                workers=workers,
                count_overhead=count_overhead,
                budget={"spec": str(budget), "seconds": {**old.get("budget", {}).get("seconds", {}), **budget_seconds}},
                benchmarks={**old.get("benchmarks", {}), **bench_info},
                optimizers=settings,
                runs=[runs[k] for k in sorted(runs)],
                study=study,
                optimum_source="benchmark",
                python_hash_seed=HASH_SEED,
                noise_seeds=(
                    "a training started by evaluation i of run seed s has the objective seed "
                    "splitmix64(splitmix64(s) ^ i) >> 32 (mfbench.core.seeds.eval_seed); every continuation of "
                    "it keeps that seed (its lineage)"
                ),
            )
            atomic_write_text(manifest_path, json.dumps(manifest, indent=1, default=str))
            return manifest

        if todo:
            if ray is not None:
                results: Iterable[dict[str, Any]] = _execute_ray(todo, ray)
            elif dask is not None:
                results = _execute_dask(todo, dask)
            else:
                results = _execute_local(todo, jobs or os.cpu_count() or 1, run_dir / "logs" if quiet else None)
            last_write = time.monotonic()
            with RunProgress(len(todo), enabled=progress) as bar:
                for res in results:
                    label, opt, seed = res["key"]
                    entry = {
                        "benchmark": label,
                        "optimizer": opt,
                        "seed": seed,
                        "status": res["status"],
                        "error": res["error"],
                        "n_evals": res["n_evals"],
                        "wall_seconds": res["wall_seconds"],
                        "stopped_by": res.get("stopped_by"),
                        "log": res.get("log"),
                        "settings_digest": settings_digest(res["settings"]) if res["status"] == "ok" else None,
                    }
                    if res["status"] == "ok":
                        write_run(res["columns"], run_dir / "runs" / run_filename(label, opt, seed))
                        # the lowest seed's settings describe the optimizer; a rerun of that seed
                        # (its old file set aside after a change) replaces what the old run recorded
                        if opt not in settings or seed <= settings[opt].get("seed", math.inf):
                            settings[opt] = res["settings"]
                    else:
                        log.warning("run %s / %s / seed %d failed: %s", label, opt, seed, res["error"])
                        log.debug("%s", res.get("traceback", ""))
                    runs[(label, opt, seed)] = entry
                    result.ran += 1
                    bar.advance(res["status"])
                    if time.monotonic() - last_write >= MANIFEST_CHECKPOINT_SECONDS:
                        write_manifest()
                        last_write = time.monotonic()

        manifest = write_manifest()  # the last checkpoint: every run of this replay
        requested = {j.key for j in all_jobs}
        result.ok = sum(1 for k in requested if runs.get(k, {}).get("status") == "ok")
        result.failed = sum(1 for k in requested if runs.get(k, {}).get("status") == "failed")
        frame = merge_runs(run_dir)
        run_list = [runs[k] for k in sorted(runs)]
        result.failures = [f for f in manifest["failures"] if (f["benchmark"], f["optimizer"], f["seed"]) in requested]
        result.summary = summarize(frame, run_list)
        from mfbench.core.runlog import notices

        result.notices = notices([r for r in run_list if (r["benchmark"], r["optimizer"], r["seed"]) in requested])
        result.seconds = time.perf_counter() - t_start
        return result
    finally:
        held.release()


def _recovered_entry(job: RunSpec, path: Path) -> dict[str, Any]:
    """The manifest entry of a run whose file exists but which no manifest lists (its replay was
    killed before it wrote one): ok, with its evaluations counted from the file, so that a run
    that ended without any evaluation is told from a lost one; what only the replay measured
    (wall time, settings) is unknown."""
    import pyarrow.parquet as pq

    try:
        n_evals: int | None = int(pq.read_metadata(path).num_rows)
    except (OSError, ValueError):
        n_evals = None
    return {
        "benchmark": job.label,
        "optimizer": job.optimizer,
        "seed": job.seed,
        "status": "ok",
        "error": None,
        "n_evals": n_evals,
        "wall_seconds": None,
        "stopped_by": None,
    }


def _check_same_benchmarks(run_dir: Path, old: dict[str, Any], bench_info: dict[str, dict[str, Any]]) -> None:
    """Refuse to add runs to a folder whose runs of a benchmark were made on other data or
    models under the same name (a refitted surrogate, a grown table): a finished run is
    skipped by its file name, so they would be mixed into one verdict silently."""
    before = old.get("benchmarks") if isinstance(old.get("benchmarks"), dict) else {}
    for label, info in bench_info.items():
        was = before.get(label, {}).get("hash") if isinstance(before.get(label), dict) else None
        if was is not None and was != info.get("hash"):
            raise UsageError(
                f"{run_dir} holds runs of {label} made on another version of it (hash {was} there, "
                f"{info.get('hash')} now: its data or models changed); use another --out"
            )


def _check_same_study(run_dir: Path, old: dict[str, Any], study: dict[str, Any]) -> None:
    """Refuse to add runs to a folder that holds a study with other settings."""
    differs = {k: (old.get("study", {}).get(k), v) for k, v in study.items() if old.get("study", {}).get(k) != v}
    if old and differs:
        raise UsageError(
            f"{run_dir} holds a study with other settings "
            f"({', '.join(f'{k}: {a} there, {b} here' for k, (a, b) in differs.items())}); "
            "use another --out"
        )


def summarize(frame: Any, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per benchmark x optimizer: runs ok/failed, mean final regret (normalized too), mean
    evaluations, mean repeated evaluations (a configuration at a budget and mode the run had
    evaluated already) and mean optimizer overhead per ask/tell."""
    import pandas as pd

    counts: dict[tuple[str, str], dict[str, int]] = {}
    for r in runs:
        c = counts.setdefault((r["benchmark"], r["optimizer"]), {"ok": 0, "failed": 0})
        c[r["status"]] = c.get(r["status"], 0) + 1
    per_run = pd.DataFrame(
        columns=["benchmark", "optimizer", "regret", "normalized_regret", "n_evals", "overhead", "repeats"]
    )
    if len(frame):
        g = frame.groupby(["benchmark", "optimizer", "seed"], sort=True)
        per_run = pd.DataFrame(
            {
                "regret": g["regret"].last(),
                "normalized_regret": g["normalized_regret"].last(),
                "n_evals": g["eval_index"].size(),
                "overhead": g["overhead_seconds"].mean(),
                "repeats": g["repeat"].sum(),
            }
        )
        per_run = per_run.reset_index()
    # a run that ended without any evaluation has no rows: normalized regret 1.0 (no incumbent),
    # nothing evaluated; its regret in the benchmark's units is undefined and left out of the mean
    empty = [r for r in runs if ended_without_a_result(r)]
    if empty:
        extra = pd.DataFrame(
            [
                {
                    "benchmark": r["benchmark"],
                    "optimizer": r["optimizer"],
                    "regret": math.nan,
                    "normalized_regret": 1.0,
                    "n_evals": 0,
                    "overhead": math.nan,
                    "repeats": 0,
                }
                for r in empty
            ]
        )
        per_run = extra if not len(per_run) else pd.concat([per_run, extra], ignore_index=True)
    rows = []
    for (bench, opt), c in sorted(counts.items()):
        sel = per_run[(per_run["benchmark"] == bench) & (per_run["optimizer"] == opt)]
        rows.append(
            {
                "benchmark": bench,
                "optimizer": opt,
                "ok": c.get("ok", 0),
                "failed": c.get("failed", 0),
                "mean_final_regret": float(sel["regret"].mean()) if len(sel) else math.nan,
                "mean_final_normalized_regret": float(sel["normalized_regret"].mean()) if len(sel) else math.nan,
                "mean_evals": float(sel["n_evals"].mean()) if len(sel) else math.nan,
                "mean_repeats": float(sel["repeats"].mean()) if len(sel) else math.nan,
                "mean_overhead_seconds": float(sel["overhead"].mean()) if len(sel) else math.nan,
            }
        )
    return rows
