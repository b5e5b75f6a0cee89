"""Sweeps: plan (configs x seeds x schedules), then run what is missing and write it.

Resumable by construction: the table's ``UNIQUE (config_id, seed, schedule_epochs)`` is the
plan's to-do list, every trial is committed whole, and the driver is the only writer. Workers
(local processes, packed GPU slots, a Dask cluster, or Ray tasks) only train and return results.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfbench.core.errors import UsageError
from mfbench.execution.pool import dask_client, dask_results, exit_with
from mfbench.tables.fuse_choice import choose_trainer, parse_fuse
from mfbench.training.space import (
    BUDGET_INDEPENDENT_SCHEDULES,
    config_id,
    get_space,
    iter_grid,
    sample_configs,
    validate_config,
)

log = logging.getLogger(__name__)

DESIGNS = ("sobol", "random", "grid", "file")


@dataclass(frozen=True)
class TrainingJob:
    """One training of the sweep: a config trained with one seed on a schedule of
    ``schedule_epochs`` epochs (every epoch of it becomes a row of the table)."""

    config: dict
    seed: int
    schedule_epochs: int

    @property
    def key(self) -> tuple[str, int, int]:
        return (config_id(self.config), self.seed, self.schedule_epochs)


@dataclass
class Plan:
    configs: list[dict]
    seeds: list[int]
    budgets: list[int]
    jobs: list[TrainingJob]
    todo: list[TrainingJob] = field(default_factory=list)

    @staticmethod
    def epochs(jobs: Sequence[TrainingJob]) -> int:
        return sum(j.schedule_epochs for j in jobs)

    def describe(self) -> str:
        return (
            f"{len(self.configs)} configs x {len(self.seeds)} seeds, ladder {self.budgets}: "
            f"{len(self.jobs)} trainings ({self.epochs(self.jobs)} epochs); "
            f"already done {len(self.jobs) - len(self.todo)}, to run {len(self.todo)} "
            f"({self.epochs(self.todo)} epochs)"
        )


def load_config_file(path: str | Path, space_name: str) -> list[dict]:
    """Configs from a JSON list of objects or a CSV with one column per hyperparameter
    (empty cells are inactive); each is validated against the space."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"config file {p} does not exist")
    cs = get_space(space_name)
    try:
        if p.suffix.lower() == ".json":
            rows = json.loads(p.read_text())
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise UsageError(f"{p}: expected a JSON list of objects")
        elif p.suffix.lower() == ".csv":
            with open(p, newline="") as fh:
                rows = [{k: _parse_cell(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(fh)]
        else:
            raise UsageError(f"{p}: config files must be .json or .csv")
    except (json.JSONDecodeError, csv.Error) as exc:
        raise UsageError(f"{p}: cannot parse ({exc})") from None
    return [validate_config(cs, r) for r in rows]


def _parse_cell(v: str) -> Any:
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return {"True": True, "False": False, "true": True, "false": False}.get(v, v)


def make_design(
    space_name: str, design: str, n_configs: int | None, seed: int = 0, config_file: str | None = None
) -> list[dict]:
    cs = get_space(space_name)
    if design == "grid":
        return list(iter_grid(cs))
    if design == "file":
        if not config_file:
            raise UsageError("--design file needs --config-file")
        return load_config_file(config_file, space_name)
    if design in ("sobol", "random"):
        if not n_configs or n_configs < 1:
            raise UsageError(f"--design {design} needs --n-configs >= 1")
        return sample_configs(cs, n_configs, seed, design)
    raise UsageError(f"unknown design {design!r}; known: {', '.join(DESIGNS)}")


def schedules_for(config: dict, budgets: Sequence[int]) -> list[int]:
    """The schedule lengths to train: one per budget when the LR schedule depends on the
    total epoch count, else just the largest (its prefix serves every budget)."""
    if config.get("lr_schedule", "constant") in BUDGET_INDEPENDENT_SCHEDULES:
        return [int(max(budgets))]
    return [int(b) for b in budgets]


def make_plan(
    configs: list[dict], seeds: Sequence[int], budgets: Sequence[int], done: set[tuple[str, int, int]] = frozenset()
) -> Plan:  # type: ignore[assignment]
    budgets = sorted(int(b) for b in budgets)
    if budgets[0] < 1 or len(set(budgets)) != len(budgets):
        raise UsageError(f"--budgets must be distinct positive integers, got {budgets}")
    # config-major, so that a sweep stopped half-way leaves whole configurations (every seed,
    # every schedule) rather than a little of each; longest schedule first within a config
    jobs = [TrainingJob(c, int(s), e) for c in configs for e in reversed(schedules_for(c, budgets)) for s in seeds]
    plan = Plan(configs, list(seeds), budgets, jobs)
    plan.todo = [j for j in jobs if j.key not in done]
    return plan


# --------------------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSpec:
    dataset: str
    data_dir: str | None = None
    split_seed: int = 0
    folds: int = 0


def run_job(job: TrainingJob, data: DataSpec, device: str, threads: int = 1):
    """Train one job (in whatever process calls it): the function workers execute."""
    import torch

    from mfbench.training.data import load_dataset
    from mfbench.training.train import train_trial

    torch.set_num_threads(max(1, threads))
    ds = load_dataset(data.dataset, data.data_dir, data.split_seed, data.folds)
    return train_trial(job.config, ds, job.seed, job.schedule_epochs, device=device)


def run_group(jobs: Sequence[TrainingJob], data: DataSpec, device: str, threads: int = 1) -> list:
    """Train jobs of the same network shapes as one fused model (``mfbench.training.fused``): one
    result per job, each committed by the driver in its own transaction, as lone ones are."""
    import torch

    from mfbench.training.data import load_dataset
    from mfbench.training.fused import Member, train_group

    torch.set_num_threads(max(1, threads))
    ds = load_dataset(data.dataset, data.data_dir, data.split_seed, data.folds)
    return train_group([Member(j.config, j.seed, j.schedule_epochs) for j in jobs], ds, device=device)


def fused_groups(todo: Sequence[TrainingJob], group_size: int) -> list[tuple[TrainingJob, ...]]:
    """The to-do list cut into fused groups of at most ``group_size`` jobs with the same
    network shapes and batch size (``fused.fuse_key``): every seed and schedule of one
    configuration first (12 on the default ladder), then configurations that share shapes.
    A group is emitted when full, so a stopped sweep still leaves whole groups behind it."""
    from mfbench.training.fused import fuse_key

    open_: dict[tuple, list[TrainingJob]] = {}
    out: list[tuple[TrainingJob, ...]] = []
    for job in todo:
        key = fuse_key(job.config)
        grp = open_.setdefault(key, [])
        grp.append(job)
        if len(grp) >= group_size:
            out.append(tuple(open_.pop(key)))
    out.extend(tuple(g) for g in open_.values())
    return out


def _init_worker(gpu_queue: Any, driver_pid: int | None = None) -> None:
    if driver_pid is not None:
        exit_with(driver_pid)
    if gpu_queue is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_queue.get())


def resolve_slots(device: str, workers: int, trials_per_gpu: str | int) -> tuple[int, list[int] | None]:
    """How many worker processes, and (on CUDA) which GPU each one is pinned to.

    ``trials_per_gpu="auto"`` packs as many trials per GPU as its memory allows at about
    1.5 GiB per small-CNN trial (context included), and no more than the CPU cores per GPU:
    small trials are bound by kernel launches, one core each (scripts/gpu_check.sh)."""
    if device == "cpu" or (device == "auto" and not _cuda_available()):
        return max(1, workers), None
    import torch

    n_gpus = torch.cuda.device_count()
    if n_gpus == 0:
        raise UsageError("--device cuda but no CUDA device is visible")
    if trials_per_gpu == "auto":
        free, _ = torch.cuda.mem_get_info(0)
        per_gpu = int(max(1, min(free // (1.5 * 2**30), (os.cpu_count() or 1) // n_gpus)))
    else:
        per_gpu = int(trials_per_gpu)
    slots = [g for g in range(n_gpus) for _ in range(per_gpu)]
    return len(slots), slots


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _execute_local(
    todo: list[Any],
    data: DataSpec,
    device: str,
    workers: int,
    gpu_slots: list[int] | None,
    threads: int | None = None,
    fn: Any = None,
) -> Iterator[Any]:
    fn = fn or run_job  # run_group for fused groups (it yields lists of results)
    if workers == 1 and gpu_slots is None:
        threads = threads or os.cpu_count() or 1
        for job in todo:
            yield fn(job, data, device, threads)
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    queue = None
    if gpu_slots is not None:
        queue = ctx.Queue()
        for g in gpu_slots:
            queue.put(g)
    threads = threads or (max(1, (os.cpu_count() or 1) // workers) if gpu_slots is None else 1)
    worker_device = "cuda" if gpu_slots is not None else device
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(queue, os.getpid())
    )
    pending: set = set()
    it = iter(todo)
    try:
        while True:
            while len(pending) < 2 * workers:
                job = next(it, None)
                if job is None:
                    break
                pending.add(pool.submit(fn, job, data, worker_device, threads))
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                yield fut.result()
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _execute_dask(
    todo: list[Any], data: DataSpec, device: str, address: Any, threads: int | None = None, fn: Any = None
) -> Iterator[Any]:
    fn = fn or run_job
    resources = {"GPU": 1} if device == "cuda" else None
    keys = {id(unit): _dask_key(i, unit) for i, unit in enumerate(todo)}
    with dask_client(address) as client:
        yield from dask_results(
            client,
            fn,
            todo,
            lambda unit: (unit, data, device, threads or 1),
            lambda unit: keys[id(unit)],
            resources=resources,
        )


#: what a local worker inherits from the driver and a training may read: passed to Ray's workers
#: through the runtime environment (a Ray worker does not inherit the driver's environment)
WORKER_ENV = ("PYTHONHASHSEED", "MFBENCH_CACHE", "MFBENCH_DATA")


def _execute_ray(
    todo: list[Any],
    data: DataSpec,
    device: str,
    address: str,
    threads: int | None = None,
    fn: Any = None,
    trials_per_gpu: int = 1,
) -> Iterator[Any]:
    """Each unit one Ray task: ``num_cpus`` = the trial's torch threads (1 unless ``threads``),
    and on GPUs ``num_gpus = 1 / trials_per_gpu`` (Ray packs that many on one GPU and gives each
    its ``CUDA_VISIBLE_DEVICES``). ``device`` ``auto`` trains on GPUs if the cluster has any."""
    from mfbench.execution.ray_engine import cluster_cpus, cluster_gpus, connected, run_tasks

    env = {k: os.environ[k] for k in WORKER_ENV if k in os.environ}
    with connected(address, env):
        gpus, cpus = cluster_gpus(), cluster_cpus()
        if device == "cuda" and not gpus:
            raise UsageError(f"--device cuda but the Ray cluster at {address} declares no GPU")
        cuda = device == "cuda" or (device == "auto" and gpus > 0)
        n_cpus = threads or 1
        if n_cpus > cpus:
            raise UsageError(f"{n_cpus} threads per trial: the Ray cluster at {address} has {cpus:g} CPUs")
        yield from run_tasks(
            todo,
            fn or run_job,
            (data, "cuda" if cuda else "cpu", n_cpus),
            env=env,
            num_cpus=n_cpus,
            num_gpus=1 / trials_per_gpu if cuda else 0,
        )


def _dask_key(i: int, unit: Any) -> str:
    job = unit[0] if isinstance(unit, tuple) else unit
    kind = f"group{len(unit)}" if isinstance(unit, tuple) else "trial"
    return f"{kind}-{i}-{job.key[0]}-{job.seed}-{job.schedule_epochs}"


def _flatten(results: Iterator[Any], want: set | None = None) -> Iterator[Any]:
    """Results one by one (a fused group returns a list), only those of jobs ``want``ed."""
    for r in results:
        for res in r if isinstance(r, list) else [r]:
            if want is None or res.key in want:
                yield res


# --------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------


@dataclass
class Summary:
    planned: int
    skipped: int
    ran: int = 0
    ok: int = 0
    diverged: int = 0
    failed: int = 0
    epochs: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    trainer: str = ""  # lone or fused: what this sweep used (empty: nothing to run)

    @property
    def epochs_per_second(self) -> float:
        return self.epochs / self.seconds if self.seconds > 0 else float("nan")


def collect(
    *,
    dataset: str,
    space: str,
    db: str | Path,
    design: str = "sobol",
    n_configs: int | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    budgets: Sequence[int] = (1, 3, 9, 27),
    workers: int = 1,
    device: str = "cpu",
    trials_per_gpu: str | int = 1,
    dask: Any = None,
    ray: str | None = None,
    data_dir: str | None = None,
    folds: int = 0,
    design_seed: int = 0,
    config_file: str | None = None,
    benchmark: str | None = None,
    progress: bool = True,
    dry_run: bool = False,
    max_trials: int | None = None,
    threads: int | None = None,
    fuse: str | int = "auto",
) -> Summary:
    """Run every (config, seed, schedule) of the design that ``db`` does not hold yet.

    ``threads``: torch CPU threads per trial (default: all cores when sequential, an equal
    share per worker otherwise). Results are bit-identical across execution paths only at the
    same thread count.

    ``fuse``: ``off`` (lone trials, ``train.py``), ``N`` (groups of at most N trials with the
    same network shapes trained as one model, ``fused.py``; k-fold datasets are trained lone) or
    ``auto`` (fused where it is faster, and never mixing trainers in one table:
    ``fuse_choice.choose_trainer``). Each run records which trainer made it.

    ``ray``: run each training (or fused group) as a Ray task on the cluster at ``HOST:PORT``,
    ``auto`` or ``local`` (``mfbench.execution.ray_engine``); the cluster's resources set how many run at
    once, ``trials_per_gpu`` how many share a GPU."""
    from mfbench.tables.table import TableWriter, blank_table, planned_done_keys, table_meta
    from mfbench.training.data import load_dataset

    check_collect_options(
        db=db,
        n_configs=n_configs,
        seeds=seeds,
        budgets=budgets,
        workers=workers,
        device=device,
        trials_per_gpu=trials_per_gpu,
        folds=folds,
        design_seed=design_seed,
        benchmark=benchmark,
        max_trials=max_trials,
        threads=threads,
    )
    if ray is not None:
        check_ray_options(ray, dask=dask, workers=workers, trials_per_gpu=trials_per_gpu, connect=not dry_run)
    fuse = parse_fuse(fuse)
    ds = load_dataset(dataset, data_dir, 0, folds)  # fails fast, before anything is written
    configs = make_design(space, design, n_configs, design_seed, config_file)
    if not configs:
        raise UsageError(f"the design has no configuration{f' ({config_file} is empty)' if config_file else ''}")
    budgets = sorted(int(b) for b in budgets)
    meta = table_meta(dataset, space, budgets, ds, folds, benchmark or Path(db).stem)
    if dry_run:  # reads the table, if any, and writes nothing
        plan = make_plan(configs, seeds, budgets, planned_done_keys(db, meta))
        log.info("plan: %s", plan.describe())
        return Summary(planned=len(plan.jobs), skipped=len(plan.jobs) - len(plan.todo))
    n_workers, gpu_slots = resolve_slots(device, workers, trials_per_gpu) if dask is None and ray is None else (1, None)
    created = blank_table(Path(db))
    writer = TableWriter.open(db, meta)  # the writer lock first: a second collect is refused here
    try:
        existing = json.loads(dict(writer.con.execute("SELECT key, value FROM meta")).get("seeds", "[]"))
        writer.set_meta("seeds", sorted(set(existing) | {int(s) for s in seeds}))
        writer.set_meta("design", {"design": design, "n_configs": len(configs), "design_seed": design_seed})
        plan = make_plan(configs, seeds, budgets, writer.done_keys())
        todo = plan.todo[:max_trials] if max_trials else plan.todo
        log.info("plan: %s", plan.describe())
        summary = Summary(planned=len(plan.jobs), skipped=len(plan.jobs) - len(plan.todo))
        if not todo:
            return summary
        data = DataSpec(dataset, data_dir, 0, folds)
        units, fn, want = todo, run_job, None
        choice = choose_trainer(
            fuse,
            cuda=device == "cuda" or (device == "auto" and dask is None and _cuda_available()),
            folds=folds,
            jobs=plan.jobs,
            table_trainers=writer.trainers(),
            groups=fused_groups,
        )
        summary.trainer = choice.trainer
        log.info("trainer: %s (%s)", choice.trainer, choice.why)
        mixed = writer.trainers() - {choice.trainer}
        if mixed:
            log.warning(
                "the table holds %s runs and this sweep adds %s ones: a fused member's seconds are its "
                "share of its group's wall time, not comparable with a lone run's",
                "/".join(sorted(mixed)),
                choice.trainer,
            )
        if choice.group_size:
            # groups are cut from the whole plan, so that a resumed sweep trains each group with
            # the members an uninterrupted one had (in float32 a member's last bits depend on its
            # group): a partly written group is trained whole again and only its missing runs kept
            want = {j.key for j in todo}
            units = [g for g in fused_groups(plan.jobs, choice.group_size) if any(j.key in want for j in g)]
            fn = run_group
        if dask is not None:
            results = _execute_dask(units, data, "cuda" if device == "cuda" else "cpu", dask, threads, fn)
        elif ray is not None:
            results = _execute_ray(units, data, device, ray, threads, fn, int(trials_per_gpu))
        else:
            results = _execute_local(units, data, device, n_workers, gpu_slots, threads, fn)
        results = _flatten(results, want)
        _drive(results, writer, summary, todo, progress)
        return summary
    except BaseException:
        try:
            empty = created and not writer.done_keys()
        except Exception:  # noqa: BLE001  (a broken connection: keep the file)
            empty = False
        if empty:  # this run created the table and wrote no trial: leave nothing behind (e.g. --dask unreachable, --ray short of GPUs)
            writer.discard()
        else:
            writer.close()
        raise
    finally:
        writer.close()


#: the largest design collect samples (``sample_configs`` holds it in memory: 10^6 configs is ~1 GB)
MAX_CONFIGS = 1_000_000


def check_collect_options(
    *,
    db: str | Path,
    n_configs: int | None,
    seeds: Sequence[int],
    budgets: Sequence[int],
    workers: int,
    device: str,
    trials_per_gpu: str | int,
    folds: int,
    design_seed: int,
    benchmark: str | None,
    max_trials: int | None,
    threads: int | None,
) -> None:
    """Every option of ``collect`` that can be checked without the dataset, before any file is
    created: each refused with one line naming it."""
    from mfbench.core.io import safe_name

    if workers < 1:
        raise UsageError("--workers must be >= 1")
    if device not in ("auto", "cpu", "cuda"):
        raise UsageError("--device must be auto, cpu or cuda")
    if trials_per_gpu != "auto" and (not isinstance(trials_per_gpu, int) or trials_per_gpu < 1):
        raise UsageError("--trials-per-gpu must be a positive integer or 'auto'")
    if n_configs is not None and not 1 <= n_configs <= MAX_CONFIGS:
        raise UsageError(f"--n-configs must be between 1 and {MAX_CONFIGS}")
    if not 0 <= design_seed < 2**32:
        raise UsageError("--design-seed must be between 0 and 2^32 - 1")
    if folds != 0 and not 2 <= folds <= 100:
        raise UsageError("--folds must be 0 (a fixed validation split) or between 2 and 100")
    if max_trials is not None and max_trials < 1:
        raise UsageError("--max-trials must be at least 1 (omit it to run every trial)")
    if threads is not None and threads < 1:
        raise UsageError("threads must be at least 1")
    if not seeds or any(not 0 <= int(s) < 2**31 for s in seeds):
        raise UsageError("--seeds must be integers between 0 and 2^31 - 1")
    if len(set(seeds)) != len(seeds):
        raise UsageError("--seeds lists a seed twice")
    if not budgets or any(not 1 <= int(b) <= 10_000 for b in budgets):
        raise UsageError("--budgets must be epoch counts between 1 and 10000")
    if len(set(budgets)) != len(budgets):
        raise UsageError("--budgets lists a budget twice")
    if benchmark is not None:
        safe_name(benchmark, "--benchmark")
    p = Path(db)
    if p.is_dir():
        raise UsageError(f"--db {p} is a folder; give a table file (.sqlite)")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"--db {p}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK) and not p.exists():
                raise UsageError(f"--db {p}: cannot create a file in {parent}")
            break


def check_ray_options(
    address: str, *, dask: Any, workers: int, trials_per_gpu: str | int, connect: bool = True
) -> None:
    """``--ray`` beside options that contradict it, refused in one line; then Ray installed and the
    cluster reachable (``connect``), all before any file is created."""
    from mfbench.execution.ray_engine import check_engine, require_ray

    if dask is not None:
        raise UsageError("--dask and --ray are two engines: give one")
    if workers != 1:
        raise UsageError(
            "--workers counts local processes; with --ray the cluster's CPUs and GPUs "
            "decide how many trainings run at once"
        )
    if trials_per_gpu == "auto":
        raise UsageError("--trials-per-gpu auto measures this machine's GPU; with --ray give a number")
    if connect:
        check_engine(address)
    else:
        require_ray()


def _drive(results: Iterator[Any], writer: Any, summary: Summary, todo: list[TrainingJob], progress: bool) -> None:
    from mfbench.core.progress import TrialProgress

    total_epochs = Plan.epochs(todo)
    t0 = time.perf_counter()
    with TrialProgress(len(todo), total_epochs, enabled=progress) as bar:
        for res in results:
            if not writer.write(res):  # already in the table: not counted as this run's
                continue
            summary.ran += 1
            setattr(summary, res.status, getattr(summary, res.status) + 1)
            summary.epochs += len(res.epochs)
            if res.status == "failed":
                summary.failures.append(f"{res.config_id} seed {res.seed} T={res.schedule_epochs}: {res.reason}")
            summary.seconds = time.perf_counter() - t0
            bar.advance(res.status, res.schedule_epochs)


def estimate_hours(summary: Summary, remaining_epochs: int) -> float:
    eps = summary.epochs_per_second
    return remaining_epochs / eps / 3600 if eps and math.isfinite(eps) else float("nan")
