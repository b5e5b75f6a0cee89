"""The one loop through which every optimizer meets every objective.

Fair by construction: the same clock, the same budget accounting, the same noise seeds and the
same record for every optimizer. The optimizer only proposes and learns; the runner decides
when a result arrives (an event queue of simulated workers), charges its cost, stops at the
budget and scores the incumbent by its noise-free value.

Simulated time (``run``): each of ``workers`` workers asks, the objective answers at once with
a cost, and the result is *delivered* when the clock reaches ``start + cost``. Events are
ordered by completion time, ties by worker id. An evaluation whose completion would pass the
budget is neither told nor recorded and ends the run, so no recorded evaluation ever lies past
the budget, whatever the number of workers. With ``count_overhead`` the optimizer's measured
ask and tell time is charged to the worker that waits for it (the ask before its evaluation,
the tell before its next ask); that makes the trajectory depend on the machine's speed, so it
is off by default.

Wall clock (``run_wall``, used by ``tune``): one worker, the clock is the real elapsed time
(training and optimizer included); an evaluation that ends past the budget is not counted.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mfbench.core.errors import SearchExhausted, UsageError
from mfbench.core.seeds import eval_seed, eval_seeds
from mfbench.core.types import MODES, Result, Trial
from mfbench.objectives.base import Objective
from mfbench.training.space import FastValidator, config_id, validate_config

log = logging.getLogger(__name__)

DEFAULT_MAX_EVALS = 100_000

#: column -> Arrow type name, in the order of the trajectory contract (see ``runs/`` format)
COLUMNS: dict[str, str] = {
    "benchmark": "string",
    "optimizer": "string",
    "seed": "int64",
    "eval_index": "int64",
    "worker": "int64",
    "sim_time": "float64",
    "budget_fraction": "float64",
    "epochs_used": "int64",
    "budget": "int64",
    "mode": "string",
    "config_id": "string",
    "val_error": "float64",
    "test_error": "float64",
    "cost_seconds": "float64",
    "cost_epochs": "int64",
    "status": "string",
    "overhead_seconds": "float64",
    "incumbent_config_id": "string",
    "incumbent_val_error": "float64",
    "incumbent_test_error": "float64",
    "regret": "float64",
    "normalized_regret": "float64",
    "test_regret": "float64",
    "lineage": "int64",
    "training_seed": "int64",
    "repeat": "bool_",
}

#: columns that hold measured wall time: the only ones that differ between two runs of a seed
TIMING_COLUMNS = ("overhead_seconds",)


def parse_budget(spec: str | float, full_budget_seconds: float | None = None) -> float:
    """``"50x"`` -> 50 x ``full_budget_seconds``; ``"3600"``, ``"3600s"`` or a number -> seconds."""
    text = str(spec).strip().lower()
    try:
        if text.endswith("x"):
            factor = float(text[:-1])
            if full_budget_seconds is None or not math.isfinite(full_budget_seconds) or full_budget_seconds <= 0:
                raise UsageError(f"budget {spec!r} needs a positive full-budget cost, got {full_budget_seconds}")
            seconds = factor * float(full_budget_seconds)
        else:
            seconds = float(text[:-1] if text.endswith("s") else text)
    except ValueError:
        raise UsageError(f"budget must be like 50x (full-budget trainings) or 3600 (seconds), got {spec!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"budget must be positive, got {spec!r}")
    return seconds


class AskTell(Protocol):
    """What the runner needs of an optimizer: a name for the trajectory, ``ask`` and ``tell``.
    ``mfbench.optimizers.base.Optimizer`` is one; the runner does not require that base class."""

    name: str

    def ask(self) -> Trial: ...

    def tell(self, trial: Trial, result: Result) -> None: ...


@dataclass
class Trajectory:
    """The record of one run: one entry per counted evaluation, in completion order.

    Regret columns are filled by ``columns(optimum, bounds)`` once the reference is known
    (``tune`` only knows it at the end of the run)."""

    benchmark: str
    optimizer: str
    seed: int
    budget_seconds: float
    stopped_by: str = ""  # "budget", "max_evals" or "exhausted"
    wall_seconds: float = 0.0
    rows: list[tuple] = field(default_factory=list)  # one tuple of _ROW_FIELDS per evaluation

    @property
    def n_evals(self) -> int:
        return len(self.rows)

    @property
    def data(self) -> dict[str, list]:
        """The recorded columns (all but benchmark, optimizer, seed and the regrets)."""
        cols = dict(zip(_ROW_FIELDS, map(list, zip(*self.rows)))) if self.rows else {f: [] for f in _ROW_FIELDS}
        cols["eval_index"] = list(range(len(self.rows)))
        cols["budget_fraction"] = [t / self.budget_seconds for t in cols["sim_time"]]
        return cols

    def columns(self, optimum: Mapping[str, float], bounds: Mapping[str, float]) -> dict[str, list]:
        """All contract columns, regrets computed against ``optimum`` and ``bounds``."""
        out = self.data
        inc_val = np.asarray(out["incumbent_val_error"], dtype=np.float64)
        inc_test = np.asarray(out["incumbent_test_error"], dtype=np.float64)
        span = float(bounds["worst"]) - float(bounds["best"])
        n = self.n_evals
        out.update(benchmark=[self.benchmark] * n, optimizer=[self.optimizer] * n, seed=[self.seed] * n)
        out["regret"] = (inc_val - float(optimum["val_error"])).tolist()
        out["normalized_regret"] = ((inc_val - float(bounds["best"])) / span if span > 0 else inc_val * 0.0).tolist()
        out["test_regret"] = (inc_test - float(optimum["test_error"])).tolist()
        return {c: out[c] for c in COLUMNS}


_ROW_FIELDS = (
    "worker",
    "sim_time",
    "epochs_used",
    "budget",
    "mode",
    "config_id",
    "val_error",
    "test_error",
    "cost_seconds",
    "cost_epochs",
    "status",
    "overhead_seconds",
    "incumbent_config_id",
    "incumbent_val_error",
    "incumbent_test_error",
    "lineage",
    "training_seed",
    "repeat",
)


class _Recorder:
    """Counts evaluations and tracks the incumbent: lowest observed val error among the
    evaluations at the largest budget seen so far, scored by its noise-free value."""

    def __init__(self, traj: Trajectory, score: Callable[[dict, str, Result], tuple[float, float]]):
        self.rows = traj.rows
        self.score = score
        self.epochs_used = 0
        self.inc_budget = -1
        self.inc_observed = math.inf
        self.inc_id = ""
        self.inc_val = math.nan
        self.inc_test = math.nan
        self.seen: set[tuple[str, int, str]] = set()  # (config id, budget, mode) already evaluated

    def add(
        self,
        worker: int,
        now: float,
        trial: Trial,
        cid: str,
        res: Result,
        overhead: float,
        lineage: int,
        training_seed: int | None,
    ) -> None:
        epochs = int(res.cost_epochs)
        self.epochs_used += epochs
        val = float(res.val_error)
        b = trial.budget
        if not math.isnan(val) and (b > self.inc_budget or (b == self.inc_budget and val < self.inc_observed)):
            self.inc_budget, self.inc_observed, self.inc_id = b, val, cid
            self.inc_val, self.inc_test = self.score(trial.config, cid, res)
        key = (cid, b, trial.mode)
        repeat = key in self.seen
        self.seen.add(key)
        self.rows.append(
            (
                worker,
                now,
                self.epochs_used,
                b,
                trial.mode,
                cid,
                val,
                float(res.metrics.get("test_error", math.nan)),
                float(res.cost_seconds),
                epochs,
                res.status,
                overhead,
                self.inc_id,
                self.inc_val,
                self.inc_test,
                lineage,
                training_seed,
                repeat,
            )
        )


_NATIVE = (int, float, str, bool)


class _Checker:
    """What the runner refuses from an optimizer: a budget off the ladder, an unknown mode,
    a continuation the objective cannot do or that adds no epochs, a config that is not a
    point of the space.
    Config ids (and the validation) are cached per distinct config."""

    def __init__(self, objective: Objective, optimizer_name: str, validate: bool):
        self.space = objective.space
        self.ladder = frozenset(int(b) for b in objective.budgets)
        self.continuation = bool(objective.supports_continuation)
        self.name = optimizer_name
        self.validate = validate
        self._ids: dict[tuple, str] = {}
        self.fast_valid = FastValidator(self.space)

    def __call__(self, trial: Trial) -> str:
        if type(trial.budget) is not int or trial.budget not in self.ladder:
            raise ValueError(f"{self.name} asked for budget {trial.budget!r}, not on the ladder {sorted(self.ladder)}")
        if trial.mode not in MODES or (trial.mode == "continue" and not self.continuation):
            raise ValueError(f"{self.name} asked for mode {trial.mode!r}, which this objective does not support")
        if trial.mode == "continue" and trial.resume_from is not None and not 0 <= trial.resume_from < trial.budget:
            # a continuation that adds no epochs would be a free draw of new noise
            raise ValueError(f"{self.name} asked to continue from {trial.resume_from} to {trial.budget} epochs")
        cfg = trial.config
        try:  # the types belong in the key: 1 == True and 3.0 == 3 hash alike, but only one is valid
            key = (tuple(cfg.items()), tuple(map(type, cfg.values())))
            cid = self._ids.get(key)
        except (AttributeError, TypeError):  # not a dict of hashable natives
            key, cid = None, None
        if cid is None:
            if self.validate and not self.fast_valid(cfg):
                try:
                    valid = validate_config(self.space, cfg)
                    if valid.keys() != cfg.keys() or any(type(v) not in _NATIVE for v in cfg.values()):
                        raise UsageError("not a dict of exactly the active hyperparameters as Python natives")
                    if self.fast_valid.usable:
                        # ConfigSpace takes 1 for True and 3.0 for 3; the config id does not: a
                        # config must hold the space's own values, of their own types
                        raise UsageError("a value is not one of the space's own values of its type (e.g. 1 for True)")
                except UsageError as exc:
                    raise ValueError(f"{self.name} asked for an invalid config {cfg!r}: {exc}") from None
            cid = config_id(cfg)
            if key is not None:
                self._ids[key] = cid
        return cid


@dataclass
class _Lineage:
    config_id: str
    seed: int  # the objective's seed for every evaluation of this training
    epochs: int  # epochs trained once its last delivered evaluation ended
    longest: bool  # trained on the longest schedule (mode continue), so it can be resumed
    busy: bool = True


class _Lineages:
    """Training identity: a continued training is one training.

    Every evaluation either starts a lineage (``scratch``, or ``continue`` from epoch 0) or
    extends one (``continue`` from ``r > 0``). A lineage keeps the objective seed it was started
    with, so every rung of one training reads the same recorded training seed (tabular) or the
    same noise stream (surrogate), as one real network trained on would. The seed of a new
    lineage is the one the runner's seed sequence hands the evaluation that starts it, so runs
    that never continue see exactly the seeds they saw before lineages existed.

    A continuation must extend a lineage of the same configuration, trained on the longest
    schedule to exactly ``resume_from`` epochs, that is not being trained right now; anything
    else is a protocol error of the optimizer (it would buy a result it did not pay for, or
    read a curve no training had). Among several such lineages the oldest is extended.
    """

    def __init__(self, optimizer_name: str):
        self.name = optimizer_name
        self.items: list[_Lineage] = []
        self._idle: dict[tuple[str, int], list[int]] = {}  # (config id, epochs) -> idle resumable lineages

    def begin(self, trial: Trial, cid: str, fresh_seed: int) -> tuple[int, int]:
        """The lineage and the objective seed of the evaluation ``trial`` asks for."""
        r = int(trial.resume_from or 0) if trial.mode == "continue" else 0
        if r == 0:
            self.items.append(_Lineage(cid, int(fresh_seed), 0, trial.mode == "continue"))
            return len(self.items) - 1, int(fresh_seed)
        idle = self._idle.get((cid, r))
        if not idle:
            known = sorted(ln.epochs for ln in self.items if ln.config_id == cid and ln.longest and not ln.busy)
            raise ValueError(
                f"{self.name} asked to continue config {cid} from {r} epochs, but no idle training of "
                f"it on the longest schedule stands at {r} epochs in this run (idle ones stand at "
                f"{known or 'none'}): a continuation must extend a training it has"
            )
        lid = idle.pop(0)
        self.items[lid].busy = True
        return lid, self.items[lid].seed

    def end(self, lid: int, budget: int) -> None:
        """The evaluation of lineage ``lid`` was delivered: it now stands at ``budget`` epochs."""
        ln = self.items[lid]
        ln.epochs, ln.busy = int(budget), False
        if ln.longest:
            self._idle.setdefault((ln.config_id, ln.epochs), []).append(lid)


def _scorer(objective: Objective) -> Callable[[dict, str, Result], tuple[float, float]]:
    cache: dict[str, tuple[float, float]] = {}

    def score(config: dict, cid: str, res: Result) -> tuple[float, float]:
        if cid not in cache:
            v, t = objective.true_value(config)
            cache[cid] = (float(v), float(t))
        return cache[cid]

    return score


def run(
    objective: Objective,
    optimizer: AskTell,
    *,
    seed: int,
    budget_seconds: float,
    workers: int = 1,
    count_overhead: bool = False,
    max_evals: int = DEFAULT_MAX_EVALS,
    validate: bool = True,
    benchmark: str | None = None,
) -> Trajectory:
    """Run ``optimizer`` against ``objective`` in simulated time until the budget is spent."""
    if workers < 1:
        raise UsageError("--workers must be >= 1")
    traj = Trajectory(benchmark or objective.name, optimizer.name, int(seed), float(budget_seconds))
    rec = _Recorder(traj, _scorer(objective))
    check = _Checker(objective, traj.optimizer, validate)
    perf = time.perf_counter
    evaluate, ask, tell = objective.evaluate, optimizer.ask, optimizer.tell
    heap: list[tuple[float, int, int, Any, str, Result, float, int]] = []
    lineages = _Lineages(traj.optimizer)
    dispatched = 0
    noise_seeds: list[int] = []
    t_start = perf()

    exhausted = False

    def dispatch(worker: int, start: float) -> None:
        nonlocal dispatched, exhausted
        if exhausted:
            return
        t0 = perf()
        try:
            trial = ask()
        except SearchExhausted as exc:
            log.info("%s: %s; the run ends here", traj.optimizer, exc)
            exhausted = True
            return
        t_ask = perf() - t0
        cid = check(trial)
        if dispatched == len(noise_seeds):
            noise_seeds.extend(eval_seeds(seed, dispatched, 1024))
        lid, s = lineages.begin(trial, cid, noise_seeds[dispatched])
        res = evaluate(trial.config, trial.budget, s, mode=trial.mode, resume_from=trial.resume_from)
        cost = res.cost_seconds
        if not cost >= 0 or cost == math.inf:
            raise ValueError(f"objective returned cost {cost!r} for {cid} at budget {trial.budget}")
        heapq.heappush(
            heap, (start + (t_ask if count_overhead else 0.0) + cost, worker, dispatched, trial, cid, res, t_ask, lid)
        )
        dispatched += 1

    for w in range(workers):
        dispatch(w, 0.0)
    traj.stopped_by = "budget"
    while heap:
        now, w, _, trial, cid, res, t_ask, lid = heapq.heappop(heap)
        if now > budget_seconds:
            break
        lineages.end(lid, trial.budget)
        t0 = perf()
        tell(trial, res)
        t_tell = perf() - t0
        rec.add(w, now, trial, cid, res, t_ask + t_tell, lid, res.training_seed)
        if traj.n_evals >= max_evals:
            traj.stopped_by = "max_evals"
            log.warning("%s: stopped after max_evals=%d evaluations", traj.optimizer, max_evals)
            break
        dispatch(w, now + (t_tell if count_overhead else 0.0))
    if exhausted and traj.stopped_by == "budget" and not heap:
        traj.stopped_by = "exhausted"
    traj.wall_seconds = perf() - t_start
    return traj


def run_wall(
    objective: Objective,
    optimizer: AskTell,
    *,
    seed: int,
    budget_seconds: float,
    max_evals: int = DEFAULT_MAX_EVALS,
    validate: bool = True,
    benchmark: str | None = None,
    score: Callable[[dict, str, Result], tuple[float, float]] | None = None,
    training_seed: Callable[[int], int] | None = None,
) -> Trajectory:
    """One worker on the wall clock: the clock is the real elapsed time, training included.

    ``score`` overrides the incumbent's scoring (a real objective has no noise-free mean);
    ``training_seed(i)`` the seed of evaluation ``i`` (default ``eval_seed(seed, i)``)."""
    traj = Trajectory(benchmark or objective.name, optimizer.name, int(seed), float(budget_seconds))
    rec = _Recorder(traj, score or _scorer(objective))
    check = _Checker(objective, traj.optimizer, validate)
    lineages = _Lineages(traj.optimizer)
    perf = time.perf_counter
    t_start = perf()
    traj.stopped_by = "budget"
    i = 0
    while True:
        t0 = perf()
        try:
            trial = optimizer.ask()
        except SearchExhausted as exc:
            log.info("%s: %s; the run ends here", traj.optimizer, exc)
            traj.stopped_by = "exhausted"
            break
        t_ask = perf() - t0
        cid = check(trial)
        lid, s = lineages.begin(trial, cid, training_seed(i) if training_seed else eval_seed(seed, i))
        res = objective.evaluate(trial.config, trial.budget, s, mode=trial.mode, resume_from=trial.resume_from)
        i += 1
        now = perf() - t_start
        if now > budget_seconds:
            log.info("evaluation %d ended at %.1f s, past the budget of %.1f s: not counted", i, now, budget_seconds)
            break
        lineages.end(lid, trial.budget)
        t0 = perf()
        optimizer.tell(trial, res)
        rec.add(0, now, trial, cid, res, t_ask + perf() - t0, lid, res.training_seed)
        if traj.n_evals >= max_evals:
            traj.stopped_by = "max_evals"
            break
    traj.wall_seconds = perf() - t_start
    return traj
