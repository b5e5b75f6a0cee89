"""Helpers for tests and benchmarks: tiny synthetic tables, small bowl spaces, minimal ask/tell
loops, regret against random search, and determinism across interpreters.

Tests build their own tables here in milliseconds instead of training CNNs; the values follow
``SyntheticObjective`` so that an optimizer that works on one works on the other. Importing this
module does not import torch (``mfbench.training.train`` is imported where a trial is faked), so that a
fresh interpreter running :func:`asks` starts in a second or two.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ConfigSpace import Categorical, ConfigurationSpace, Float, Integer

from mfbench.core.types import Result
from mfbench.objectives.base import Objective
from mfbench.objectives.synthetic import SyntheticObjective
from mfbench.objectives.tabular import TabularObjective
from mfbench.training.space import config_id, get_space, iter_grid, sample_configs, validate_config

if TYPE_CHECKING:
    from mfbench.training.records import TrialResult

#: The ladder most optimizer tests use.
LADDER = (1, 3, 9, 27)


def synthetic_trial(
    obj: SyntheticObjective,
    config: dict,
    seed: int,
    schedule_epochs: int,
    noise: float = 0.02,
    diverge_at: int | None = None,
) -> TrialResult:
    """A fake trial whose val error decays towards the objective's value, with seeded noise."""
    from mfbench.training.records import EpochRecord, TrialResult

    rng = np.random.default_rng([seed, int(config_id(config), 16) & 0xFFFFFFFF, schedule_epochs])
    final = min(obj._mean(config, schedule_epochs), 0.85)
    recs = []
    for e in range(1, schedule_epochs + 1):
        err = float(np.clip(final + (0.9 - final) * math.exp(-3.0 * e / schedule_epochs) + noise * rng.normal(), 0, 1))
        recs.append(
            EpochRecord(
                epoch=e,
                train_loss=err * 2,
                train_acc=1 - err * 0.8,
                val_loss=err * 2.2,
                val_acc=1 - err,
                val_precision=1 - err,
                val_recall=1 - err,
                val_f1=1 - err * 1.05,
                test_loss=err * 2.3,
                test_acc=1 - err - 0.01,
                test_f1=1 - err * 1.06,
                lr=0.01,
                train_seconds=0.1 + 0.001 * config.get("width", 16),
                eval_seconds=0.01,
            )
        )
    status, reason = "ok", ""
    if diverge_at is not None and diverge_at <= schedule_epochs:
        recs = recs[:diverge_at]
        recs[-1].train_loss = float("nan")
        status, reason = "diverged", f"non-finite training loss at epoch {diverge_at}"
    return TrialResult(
        config=config,
        config_id=config_id(config),
        seed=seed,
        schedule_epochs=schedule_epochs,
        status=status,
        reason=reason,
        epochs=recs,
        n_params=1000,
        flops=10000,
        device="synthetic",
        host="test",
    )


def make_tiny_table(
    path: str | Path,
    space: str = "cnn-grid",
    n_configs: int | None = 12,
    seeds: Sequence[int] = (0, 1),
    budgets: Sequence[int] = (1, 3, 9),
    design_seed: int = 0,
    diverge: dict[str, int] | None = None,
    fail: Sequence[str] = (),
) -> Path:
    """Write a small, complete table of synthetic learning curves and return its path.

    ``space="cnn-grid"`` takes the first ``n_configs`` grid points (all when None);
    ``space="cnn"`` samples ``n_configs`` random configs. ``diverge`` maps config ids to the
    epoch at which their runs diverge; the runs of the config ids in ``fail`` failed (no epoch)."""
    from mfbench.tables.collect import make_plan
    from mfbench.tables.table import TableWriter

    cs = get_space(space)
    if space == "cnn-grid":
        configs = list(iter_grid(cs))[: n_configs or None]
    else:
        configs = sample_configs(cs, n_configs or 12, design_seed, "random")
    obj = SyntheticObjective(cs, budgets)
    meta = {
        "benchmark": Path(path).stem,
        "dataset": "synthetic",
        "space_name": space,
        "budgets": sorted(budgets),
        "split": {"n_classes": 10},
        "folds": 0,
        "seeds": list(seeds),
    }
    writer = TableWriter.open(path, meta)
    try:
        for job in make_plan(configs, seeds, budgets).jobs:
            d = (diverge or {}).get(config_id(job.config))
            trial = synthetic_trial(obj, job.config, job.seed, job.schedule_epochs, diverge_at=d)
            if trial.config_id in fail:
                trial.status, trial.reason, trial.epochs = "failed", "test: the training crashed", []
            writer.write(trial)
    finally:
        writer.close()
    return Path(path)


def _ask(optimizer: Any, objective: Objective) -> Any:
    """One ask, with the checks the runner relies on: a valid config of the space, in Python
    natives, and a budget on the ladder."""
    trial = optimizer.ask()
    assert trial.budget in objective.budgets, f"{optimizer.name}: budget {trial.budget} not on {objective.budgets}"
    validate_config(objective.space, trial.config)
    for k, v in trial.config.items():
        assert type(v) in (int, float, str, bool), f"{optimizer.name}: {k}={v!r} is {type(v).__name__}"
    return trial


def _tell(optimizer: Any, objective: Objective, trial: Any, eval_seed: int) -> tuple[Any, Result]:
    res = objective.evaluate(trial.config, trial.budget, eval_seed, mode=trial.mode, resume_from=trial.resume_from)
    optimizer.tell(trial, res)
    return trial, res


def _step(optimizer: Any, objective: Objective, eval_seed: int) -> tuple[Any, Result]:
    return _tell(optimizer, objective, _ask(optimizer, objective), eval_seed)


def drive(optimizer: Any, objective: Objective, n_evals: int, seed: int = 0) -> list[tuple[Any, Result]]:
    """The smallest ask/tell loop (one worker, no clock), for optimizer unit tests; every ask
    is checked as the runner would. Evaluation ``i`` uses the seed ``seed * 100_003 + i``."""
    return [_step(optimizer, objective, seed * 100_003 + i) for i in range(n_evals)]


def drive_epochs(optimizer: Any, objective: Objective, epochs: int, seed: int = 0) -> list[tuple[Any, Result]]:
    """:func:`drive` until ``epochs`` training epochs are spent (a continued trial pays only its
    extra epochs): what a budget of full-budget equivalents buys a multi-fidelity optimizer."""
    history: list[tuple[Any, Result]] = []
    spent = 0
    while spent < epochs:
        history.append(_step(optimizer, objective, seed * 100_003 + len(history)))
        spent += history[-1][1].cost_epochs
    return history


def best_true_value(objective: Objective, history: list[tuple[Any, Result]], full_budget_only: bool = False) -> float:
    """Noise-free value of the best configuration seen (by observed error, the way an
    incumbent is chosen); with ``full_budget_only``, among max-budget evaluations only."""
    cands = [(r.val_error, t.config) for t, r in history if not full_budget_only or t.budget == objective.max_budget]
    if not cands:
        cands = [(r.val_error, t.config) for t, r in history]
    return objective.true_value(min(cands, key=lambda x: x[0])[1])[0]


def drive_parallel(
    optimizer: Any, objective: Objective, n_tells: int, workers: int, seed: int = 0
) -> tuple[list[tuple[Any, Result]], list[Any]]:
    """Keep ``workers`` asks outstanding and tell one of them, picked at random, until
    ``n_tells`` results are told: the out-of-order results of a pool of workers. Returns the
    told ``(trial, result)`` pairs and the trials still pending."""
    rng = np.random.default_rng(seed)
    history: list[tuple[Any, Result]] = []
    pending: list[Any] = []
    while len(history) < n_tells:
        while len(pending) < workers:
            pending.append(_ask(optimizer, objective))
        trial = pending.pop(int(rng.integers(len(pending))))
        history.append(_tell(optimizer, objective, trial, seed * 100_003 + len(history)))
    return history, pending


def regret(objective: Objective, history: list[tuple[Any, Result]], full_budget_only: bool = False) -> float:
    """:func:`best_true_value` above the objective's optimum. With ``full_budget_only`` the
    history must hold a max-budget evaluation (no fallback to lower budgets)."""
    if full_budget_only:
        assert any(t.budget == objective.max_budget for t, _ in history), "no evaluation at the largest budget"
    return best_true_value(objective, history, full_budget_only) - objective.optimum["val_error"]


def regrets(
    name: str,
    objective: Objective,
    seeds: Sequence[int],
    *,
    n_evals: int | None = None,
    epochs: int | None = None,
    **options: Any,
) -> list[float]:
    """:func:`regret` per seed of optimizer ``name`` built for ``objective``: after ``n_evals``
    evaluations (incumbent among all of them), or once ``epochs`` training epochs are spent
    (incumbent among the max-budget evaluations, which is how a multi-fidelity run is judged).
    Run seed ``s`` evaluates with the seeds of ``drive(..., seed=s)``."""
    from mfbench.optimizers import make_optimizer

    if (n_evals is None) == (epochs is None):
        raise ValueError("regrets: give exactly one of n_evals and epochs")
    out = []
    for s in seeds:
        opt = make_optimizer(name, objective.space, objective.budgets, s, **options)
        if epochs is None:
            out.append(regret(objective, drive(opt, objective, n_evals, seed=s)))
        else:
            out.append(regret(objective, drive_epochs(opt, objective, epochs, seed=s), full_budget_only=True))
    return out


def mean_regret(name: str, objective: Objective, seeds: Sequence[int], **kwargs: Any) -> float:
    """The mean of :func:`regrets` (same arguments)."""
    return float(np.mean(regrets(name, objective, seeds, **kwargs)))


def median_regrets(jobs: Sequence[Mapping[str, Any]]) -> list[float]:
    """The median of :func:`regrets` for each job: ``name``, ``space`` (as for
    :func:`named_space`), ``ladder``, ``seeds``, ``n_evals`` or ``epochs``, ``options``."""
    out = []
    for j in jobs:
        obj = SyntheticObjective(named_space(j["space"]), j["ladder"])
        kw = {k: j[k] for k in ("n_evals", "epochs") if j.get(k) is not None}
        out.append(float(np.median(regrets(j["name"], obj, j["seeds"], **kw, **j.get("options", {})))))
    return out


def median_regrets_in_subprocess(
    jobs: Sequence[Mapping[str, Any]], hashseed: str, timeout: float = 1200
) -> list[float]:
    """:func:`median_regrets` in a fresh interpreter with ``PYTHONHASHSEED=hashseed``: for
    libraries whose choices depend on the hash seed (SMAC iterates sets), measured under the
    condition that replay runs them."""
    return in_fresh_interpreters("median_regrets", jobs, [hashseed], timeout)[0]


# ------------------------------------------------------------------------ small spaces


def bowl_space(kind: str = "log") -> ConfigurationSpace:
    """A small space on which ``SyntheticObjective`` is a smooth bowl: where a model-based
    optimizer must beat random search.

    ``"log"``: x, y uniform on [0, 1], z log-uniform on [1e-3, 1]. ``"uniform"``: x, y, z uniform
    on [0, 1] (hpbandster's KDE needs few points in three dimensions). ``"2d"``: x, y uniform
    (space name ``bowl2``; a GP is good after a handful of points). ``"mixed"``: a float, a log
    float, a log integer and a three-way categorical."""
    if kind == "log":
        hps = [Float("x", (0.0, 1.0)), Float("y", (0.0, 1.0)), Float("z", (1e-3, 1.0), log=True)]
    elif kind == "uniform":
        hps = [Float("x", (0.0, 1.0)), Float("y", (0.0, 1.0)), Float("z", (0.0, 1.0))]
    elif kind == "2d":
        hps = [Float("x", (0.0, 1.0)), Float("y", (0.0, 1.0))]
    elif kind == "mixed":
        hps = [
            Float("x", (0.0, 1.0)),
            Float("lr", (1e-4, 1.0), log=True),
            Integer("n", (1, 64), log=True),
            Categorical("c", ["a", "b", "c"]),
        ]
    else:
        raise ValueError(f"bowl_space: unknown kind {kind!r}; known: 2d, log, mixed, uniform")
    cs = ConfigurationSpace(name="bowl2" if kind == "2d" else "bowl")
    cs.add(hps)
    return cs


def named_space(name: str) -> ConfigurationSpace:
    """``"bowl"`` / ``"bowl:<kind>"`` for :func:`bowl_space`, else a space of ``get_space``: a
    name that a job for another interpreter can carry."""
    if name == "bowl" or name.startswith("bowl:"):
        return bowl_space(name.partition(":")[2] or "log")
    return get_space(name)


def tiny_tabular(
    directory: str | Path, space: str = "cnn-grid", budgets: Sequence[int] = (1, 3, 9)
) -> TabularObjective:
    """A ``TabularObjective`` over a complete tiny synthetic table written in ``directory``
    (every point of ``cnn-grid``, two seeds)."""
    return TabularObjective(make_tiny_table(Path(directory) / "tiny.sqlite", space, n_configs=None, budgets=budgets))


# -------------------------------------------------------------- determinism across processes


def asks(
    name: str,
    space: str,
    n: int,
    seed: int,
    ladder: Sequence[int] = LADDER,
    options: Mapping[str, Any] | None = None,
    noise: float = 0.05,
    info: Sequence[str] = (),
) -> list[list[Any]]:
    """The first ``n`` trials that optimizer ``name`` asks, each told at once (:func:`drive`), on a
    ``SyntheticObjective`` over :func:`named_space` ``space``: rows ``[config, budget, mode,
    resume_from, *(trial.info.get(key) for key in info)]`` as JSON natives, so that the rows of
    two interpreters compare equal."""
    from mfbench.optimizers import make_optimizer

    cs = named_space(space)
    obj = SyntheticObjective(cs, ladder, noise=noise)
    opt = make_optimizer(name, cs, ladder, seed, **(options or {}))
    rows = [[t.config, t.budget, t.mode, t.resume_from, *(t.info.get(k) for k in info)] for t, _ in drive(opt, obj, n)]
    return json.loads(json.dumps(rows))


def _child_path() -> str:
    """The child imports this module by name: the tests folder goes first on its path."""
    return os.pathsep.join([str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")])


_CHILD_SCRIPT = """
import json, sys
import support
print(json.dumps(getattr(support, sys.argv[1])(json.loads(sys.argv[2]))))
"""


def in_fresh_interpreters(
    function: str, jobs: Sequence[Mapping[str, Any]], hashseeds: Sequence[int | str], timeout: float
) -> list[Any]:
    """``support.<function>(jobs)`` in one fresh interpreter per entry of ``hashseeds``
    (its ``PYTHONHASHSEED``), all started at once; one JSON result per interpreter. The timeout
    only guards against a hang on a loaded machine."""
    payload = json.dumps([dict(job) for job in jobs])
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD_SCRIPT, function, payload],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": str(h), "PYTHONPATH": _child_path()},
        )
        for h in hashseeds
    ]
    results = []
    try:
        for h, proc in zip(hashseeds, procs, strict=True):
            out, err = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise AssertionError(
                    f"{function} in a fresh interpreter (PYTHONHASHSEED={h}) exited with status "
                    f"{proc.returncode}:\n{err[-4000:]}"
                )
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def all_asks(jobs: Sequence[Mapping[str, Any]]) -> list[list[list[Any]]]:
    """:func:`asks` for each job (what :func:`asks_in_subprocess` runs in the child)."""
    return [asks(**job) for job in jobs]


def asks_in_subprocess(
    jobs: Sequence[Mapping[str, Any]], hashseeds: Sequence[int | str] = (0, 0), timeout: float = 1800
) -> list[list[list[list[Any]]]]:
    """``[asks(**job) for job in jobs]`` in one fresh interpreter per entry of ``hashseeds``;
    returns one list of job results per interpreter.

    Determinism across processes is what makes a run reproducible: libraries that iterate
    hash-ordered sets (SMAC) agree only under one fixed hash seed, the others under any."""
    return in_fresh_interpreters("all_asks", jobs, hashseeds, timeout)


def kill_driver_and_check_workers(proc: subprocess.Popen, workers: Sequence[Any]) -> None:
    """SIGKILL the driver ``proc``, then assert that its pool's ``workers`` (psutil processes)
    end by themselves within 20 s; none is left behind when the assertion fails."""
    import signal

    import psutil

    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=20)
    for p in list(alive):  # an exited worker not yet reaped by init runs nothing
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                alive.remove(p)
        except psutil.Error:
            alive.remove(p)
    for p in alive:  # leave no orphan behind when the assertion fails
        p.kill()
    assert not alive, f"workers outlived their driver: {[p.pid for p in alive]}"


#: ``fit`` options that make a surrogate of a tiny table in seconds (one small family, 2 folds)
TINY_FIT_ARGS = [
    "--families",
    "extra_trees",
    "--folds",
    "2",
    "--n-estimators",
    "4",
    "--reference-samples",
    "50",
    "--threads",
    "1",
    "--json",
    "--allow-below-gate",  # a tiny table's surrogate misses the gates (the gate tests check the refusal)
]


# --------------------------------------------------------------------------------------
# Command lines and keyword arguments of the small real collects and replays of the tests
# --------------------------------------------------------------------------------------

#: the start of a command line that runs mfbench in a fresh interpreter
MFBENCH = [sys.executable, "-m", "mfbench"]


def three_configs(base: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``base`` (a tiny CNN), the same with a constant learning rate (one training serves every
    budget) and a small VGG trained with Adam: every kind of run plan and both architectures
    in the fewest trainings (7 per seed on the ladder 1,2,3)."""
    a = dict(base)
    b = dict(base, lr_schedule="constant", width=5)
    c = {k: v for k, v in base.items() if k not in ("resnet_blocks", "momentum")}
    c.update(architecture="vgg", vgg_convs=1, optimizer="adam", learning_rate=0.003)
    return [a, b, c]


def collect_argv(
    db: str | Path | None = None,
    *extra: str,
    config_file: str | Path = "configs.json",
    seeds: str = "0",
    budgets: str = "1,2",
) -> list[str]:
    """``mfbench collect`` arguments that train the configs of ``config_file`` on digits on the
    CPU without a progress bar; ``--db`` when ``db`` is given, then ``extra`` (argparse keeps
    the last value of a repeated option, so ``extra`` may override any of these)."""
    argv = ["collect", "--dataset", "digits", "--space", "cnn", "--design", "file", "--config-file", str(config_file)]
    argv += ["--seeds", seeds, "--budgets", budgets, "--device", "cpu", "--no-progress"]
    return [*argv, *(["--db", str(db)] if db is not None else []), *extra]


def collect_kwargs(config_file: str | Path, **changes: Any) -> dict[str, Any]:
    """The keyword arguments of ``mfbench.tables.collect.collect`` that ``collect_argv`` gives
    on the command line (one seed, budgets 1 and 2), with ``changes`` applied."""
    kw = dict(dataset="digits", space="cnn", design="file", config_file=str(config_file), seeds=[0], budgets=[1, 2])
    return {**kw, "progress": False, **changes}


def replay_argv(
    benchmarks: str | Path,
    out: str | Path,
    *extra: str,
    optimizers: str = "random",
    seeds: str = "0",
    budget: str = "3x",
) -> list[str]:
    """``mfbench replay`` arguments of a small study in ``out`` without report or progress bar,
    then ``extra`` (argparse keeps the last value of a repeated option)."""
    argv = ["replay", "--benchmarks", str(benchmarks), "--optimizers", optimizers, "--seeds", seeds]
    return [*argv, "--budget", budget, "--out", str(out), "--no-report", "--no-progress", *extra]
