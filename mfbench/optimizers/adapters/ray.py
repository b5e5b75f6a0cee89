"""Ray Tune 2.60's schedulers, driven one ask/tell at a time without starting Ray:
``ray-asha`` (AsyncHyperBandScheduler + BasicVariantGenerator random search), ``ray-hyperband``
(HyperBandScheduler + BasicVariantGenerator) and ``ray-bohb`` (HyperBandForBOHB + TuneBOHB).

Ray decides everything: its search algorithm creates the trials (real ``ray.tune.experiment.Trial``
objects of a registered do-nothing trainable; no actor is ever started and ``ray.is_initialized()``
stays False), its scheduler places them (``on_trial_add``), picks what runs next
(``choose_trial_to_run``) and rules on every result (``on_trial_result``: CONTINUE, PAUSE or STOP).
The adapter plays the part of Ray's ``TuneController``, copying what it does around those calls:

- it keeps as many trials pending as the controller would (200 for ``BasicVariantGenerator``, 1
  for any other searcher; without that Hyperband's brackets never fill), refilling the queue as
  soon as a trial starts (the controller's next step comes while that trial trains; refilling
  only at the next ask would add the next trial to a finished BOHB bracket, forever);
- a STOP decision or a trial at ``max_t`` ends the trial (``stop_trial``: scheduler
  ``on_trial_complete``, searcher ``on_trial_complete``); the searcher hears ``on_trial_result``
  only for results that are not STOPs, as in the controller;
- a crash is Ray's trial ERROR path (scheduler ``on_trial_error``, searcher
  ``on_trial_complete(error=True)``, no retry: ``max_failures=0``).

One trial is *one training* on the longest schedule. Each ask runs a trial up to its scheduler's
next decision point (ASHA's next milestone, Hyperband's bracket milestone ``_cumul_r``): reports
between decision points are always CONTINUE in Ray, so they are skipped. The step is asked as
``continue`` from the epochs the training has (0 for a new trial) when the objective can continue
trainings, else as a fresh training at that budget (Ray's own checkpoint/restore is what makes
``continue`` honest: a paused trial resumes from its checkpoint).

The ladder must be exactly Ray's: ASHA's decision points (its milestones below ``max_t``) must
be the ladder's rungs below the top, and every Hyperband bracket must climb a suffix of the
ladder with one bracket per rung. Ray computes these with floating-point logarithms and ``int``
truncation, and Hyperband has no minimum budget (its brackets start at ``max_t / eta**s``).
Hyperband (Li et al.) is defined in units of resource: a ladder ``r0 * eta**k`` is Ray's ladder
``1, eta, ..., eta**K`` counted in units of ``r0``, so ``ray-hyperband`` and ``ray-bohb`` give Ray
``max_t = max / r0`` and report ``epochs / r0`` (``time_unit`` in the settings; 1 for ladders that
start at 1). Ray still decides every bracket and decision; a ladder it rounds (1..729 at eta 3
loses its smallest bracket) is refused at construction rather than run on other rungs.

``AsyncHyperBandScheduler.on_trial_add`` and hpbandster's KDE draw from numpy's *global*
generator: each instance owns a private copy of that state and swaps it in around every library
call (as the hpbandster adapter does).
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import tempfile
from collections import deque
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import numpy as np
from ConfigSpace import ConfigurationSpace, Constant
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    FloatHyperparameter,
    IntegerHyperparameter,
    OrdinalHyperparameter,
)
from ray import tune
from ray.tune import Experiment
from ray.tune.experiment import Trial as RayTrial
from ray.tune.registry import register_trainable
from ray.tune.schedulers import AsyncHyperBandScheduler, HyperBandForBOHB, HyperBandScheduler
from ray.tune.schedulers.trial_scheduler import TrialScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.bohb import TuneBOHB
from ray.tune.search.search_generator import SearchGenerator
from ray.tune.utils.util import flatten_dict

from mfbench.core.errors import UsageError
from mfbench.core.types import Capabilities, Result, Trial
from mfbench.optimizers.adapters._common import from_ordinal_indices, hpbandster_rng
from mfbench.optimizers.base import Optimizer, ladder_eta
from mfbench.training.space import to_config, validate_config

METRIC = "val_error"
TIME_ATTR = "epochs"
TRAINABLE = "mfbench_replay"
#: the controller's pending-trial policy (``tune_controller._get_max_pending_trials``) without a
#: cluster: at least 200 for ``BasicVariantGenerator``, 1 for any other searcher
PENDING_BASIC_VARIANT, PENDING_OTHER = 200, 1


def _never_called(config: dict) -> None:  # the trainable Ray's trials name; nothing runs it
    raise RuntimeError("mfbench drives Ray Tune's schedulers without running trainables")


def ray_param_space(cs: ConfigurationSpace) -> dict[str, Any]:
    """``cs`` as Ray Tune search-space domains, for ``BasicVariantGenerator``'s random search:
    every hyperparameter is drawn (the adapter drops the inactive ones afterwards, so a
    conditional child is drawn from its own distribution, independently of its parent)."""
    out: dict[str, Any] = {}
    for name in cs:
        hp = cs[name]
        if isinstance(hp, Constant):
            out[name] = hp.value
        elif isinstance(hp, CategoricalHyperparameter):
            if hp.weights is not None:
                raise UsageError(f"ray adapters: weighted categorical {name!r} has no Ray Tune domain")
            out[name] = tune.choice(list(hp.choices))
        elif isinstance(hp, OrdinalHyperparameter):
            out[name] = tune.choice(list(hp.sequence))
        elif isinstance(hp, IntegerHyperparameter):
            lo, hi = int(hp.lower), int(hp.upper) + 1  # Ray's integer upper bound is exclusive
            out[name] = tune.lograndint(lo, hi) if hp.log else tune.randint(lo, hi)
        elif isinstance(hp, FloatHyperparameter):
            lo, hi = float(hp.lower), float(hp.upper)
            out[name] = tune.loguniform(lo, hi) if hp.log else tune.uniform(lo, hi)
        else:
            raise UsageError(f"ray adapters: unsupported hyperparameter {name!r} ({type(hp).__name__})")
    return out


def active_part(cs: ConfigurationSpace, values: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters of ``values`` that are active under ``cs``'s conditions."""
    kept: dict[str, Any] = {}
    for name in cs:  # topological: parents first
        if name in values and all(c.satisfied_by_value(kept) for c in cs.parent_conditions_of.get(name, [])):
            kept[name] = values[name]
    return kept


class _Controller:
    """The part of ``ray.tune.execution.tune_controller.TuneController`` that schedulers and
    searchers call back into, with the same effects on trial state and library hooks."""

    def __init__(self, scheduler: TrialScheduler, search_alg: Any):
        self.scheduler = scheduler
        self.search_alg = search_alg
        self.trials: list[RayTrial] = []

    def get_trials(self) -> list[RayTrial]:
        return list(self.trials)

    def get_live_trials(self) -> list[RayTrial]:
        return [t for t in self.trials if t.status not in (RayTrial.TERMINATED, RayTrial.ERROR)]

    def add_trial(self, trial: RayTrial) -> None:
        self.trials.append(trial)
        self.scheduler.on_trial_add(self, trial)

    def n_pending(self) -> int:
        return sum(t.status == RayTrial.PENDING for t in self.trials)

    def stop_trial(self, trial: RayTrial) -> None:
        if trial.status in (RayTrial.ERROR, RayTrial.TERMINATED):
            return
        if trial.status in (RayTrial.PENDING, RayTrial.PAUSED):
            self.scheduler.on_trial_remove(self, trial)
            self.search_alg.on_trial_complete(trial.trial_id)
        elif trial.status == RayTrial.RUNNING:
            last = flatten_dict(trial.last_result)
            self.scheduler.on_trial_complete(self, trial, last)
            self.search_alg.on_trial_complete(trial.trial_id, result=last)
        trial.set_status(RayTrial.TERMINATED)

    def pause_trial(self, trial: RayTrial, should_checkpoint: bool = True) -> None:
        trial.set_status(RayTrial.PAUSED)

    def error_trial(self, trial: RayTrial) -> None:
        self.scheduler.on_trial_error(self, trial)
        self.search_alg.on_trial_complete(trial.trial_id, error=True)
        trial.set_status(RayTrial.ERROR)


class _RayTune(Optimizer):
    """The controller loop of Ray Tune around one scheduler and one search algorithm."""

    capabilities: ClassVar[Capabilities] = Capabilities(multi_fidelity=True, continuation=True)
    on_crash = (
        "Ray's trial ERROR path (scheduler.on_trial_error, searcher.on_trial_complete(error=True), max_failures=0)"
    )
    _option_defaults: ClassVar[dict[str, Any]] = {}
    #: the benchmark budget of one unit of Ray's ``time_attr`` (Hyperband's: the smallest rung)
    unit: int = 1

    def __init__(
        self, space: ConfigurationSpace, budgets: Sequence[int], seed: int, continuation: bool = True, **options: Any
    ):
        opts = self.resolve_options(options, self._option_defaults)
        super().__init__(space, budgets, seed, **options)
        self._opts = opts
        self.continuation = bool(continuation)
        if space.forbidden_clauses:
            raise UsageError(
                f"{self.name}: Ray Tune's searchers have no forbidden clauses; space {space.name!r} has some"
            )
        self.eta = ladder_eta(self.budgets)
        self._np_state = np.random.RandomState(self.seed).get_state()
        register_trainable(TRAINABLE, _never_called)
        with self._library_rng():
            self.scheduler = self._make_scheduler()
            self.search_alg, self.max_pending = self._make_search_alg()
        self._check_ladder()
        self.controller = _Controller(self.scheduler, self.search_alg)
        self._ready: deque[RayTrial] = deque()  # RUNNING trials whose next step is due (CONTINUE)
        self._epochs: dict[str, int] = {}  # trial id -> epochs its training has

    # -- what the subclasses choose ---------------------------------------------------------
    def _make_scheduler(self) -> TrialScheduler:
        raise NotImplementedError

    def _make_search_alg(self) -> tuple[Any, int]:
        gen = BasicVariantGenerator(random_state=self.seed)
        self._add_experiment(gen, ray_param_space(self.space))
        return gen, PENDING_BASIC_VARIANT

    def _check_ladder(self) -> None:
        raise NotImplementedError

    def _next_milestone(self, trial: RayTrial) -> int:
        raise NotImplementedError

    def _from_library(self, config: dict[str, Any]) -> dict[str, Any]:
        return validate_config(self.space, active_part(self.space, to_config(config)))

    # -- plumbing -----------------------------------------------------------------------------
    def _add_experiment(self, search_alg: Any, param_space: dict[str, Any]) -> None:
        """Hand the search algorithm an ``Experiment`` of unlimited samples (``num_samples=-1``
        in a ``Tuner``). The experiment creates an empty storage folder, which is removed."""
        with tempfile.TemporaryDirectory(prefix="mfbench-ray-") as tmp:
            exp = Experiment("mfbench", TRAINABLE, config=param_space, num_samples=sys.maxsize, storage_path=tmp)
            search_alg.add_configurations([exp])

    def _library_rng(self) -> AbstractContextManager[None]:
        return hpbandster_rng(self)  # the library draws from numpy's global generator: ours alone

    def _fill_pending(self) -> None:
        """``TuneController._maybe_update_trial_queue``: ask the searcher for trials until as
        many are pending as the controller keeps."""
        while self.controller.n_pending() < self.max_pending and not self.search_alg.is_finished():
            trial = self.search_alg.next_trial()
            if trial is None:
                break
            self.controller.add_trial(trial)

    def ask(self) -> Trial:
        with self._library_rng():
            if self._ready:
                rt = self._ready.popleft()
            else:
                self._fill_pending()
                rt = self.scheduler.choose_trial_to_run(self.controller)
                if rt is None:
                    raise RuntimeError(
                        f"{self.name}: Ray's scheduler has no trial to run while "
                        f"{sum(t.status == RayTrial.RUNNING for t in self.controller.trials)} "
                        "run: a Ray worker would wait here"
                    )
                rt.set_status(RayTrial.RUNNING)
                self._epochs.setdefault(rt.trial_id, 0)
                # the controller refills its queue on its next step, while this trial trains
                self._fill_pending()
            start, target = self._epochs[rt.trial_id], self._next_milestone(rt)
        config = self._from_library(rt.config)
        budget = self.check_budget(target)
        info = {"trial_id": rt.trial_id, "ray_trial": rt, "start": start, **self._bracket_info(rt)}
        if not self.continuation:
            return Trial(config=config, budget=budget, mode="scratch", info=info)
        return Trial(config=config, budget=budget, mode="continue", resume_from=start, info=info)

    def _bracket_info(self, rt: RayTrial) -> dict[str, Any]:
        return {}

    def tell(self, trial: Trial, result: Result) -> None:
        rt: RayTrial = trial.info["ray_trial"]
        obs = self.observe(result)
        with self._library_rng():
            if obs.crashed:  # the failure policy: Ray's own ERROR path
                self.controller.error_trial(rt)
                return
            self._epochs[rt.trial_id] = int(trial.budget)
            report = {
                METRIC: obs.loss,
                TIME_ATTR: int(trial.budget) // self.unit,
                "training_iteration": rt.last_result.get("training_iteration", 0) + 1,
                "trial_id": rt.trial_id,
            }
            flat = flatten_dict(report)
            decision = self.scheduler.on_trial_result(self.controller, rt, flat)
            if decision != TrialScheduler.STOP:
                self.search_alg.on_trial_result(rt.trial_id, flat)
            rt.update_last_result(report)
            if rt.status != RayTrial.RUNNING:  # the scheduler already stopped it
                return
            if decision == TrialScheduler.PAUSE:  # even at max_t: the scheduler stops it later
                self.controller.pause_trial(rt)
            elif decision == TrialScheduler.STOP or int(trial.budget) >= self.max_budget:
                self.controller.stop_trial(rt)  # a trainable that reported max_t returns: the trial ends
            else:
                self._ready.append(rt)

    def settings(self) -> dict[str, Any]:
        return {
            **self.library_header("ray[tune]", "ray"),
            "driver": "in-process TuneController stand-in (no ray.init, no actors)",
            "continuation": self.continuation,
            "metric": METRIC,
            "mode": "min",
            "time_attr": TIME_ATTR,
            "max_pending_trials": self.max_pending,
            "eta": self.eta,
            "global_numpy_rng": "private state per instance",
            "on_crash": self.on_crash,
            "reports": "at the scheduler's decision points only (Ray CONTINUEs between them)",
            **self._opts,
        }


class RayASHA(_RayTune):
    """ASHA (Li et al. 2020) as ``AsyncHyperBandScheduler``, with Ray's random search."""

    name = "ray-asha"
    _option_defaults: ClassVar[dict[str, Any]] = {"brackets": 1, "stop_last_trials": True}

    def _make_scheduler(self) -> TrialScheduler:
        return AsyncHyperBandScheduler(
            time_attr=TIME_ATTR,
            metric=METRIC,
            mode="min",
            max_t=self.max_budget,
            grace_period=self.budgets[0],
            reduction_factor=self.eta,
            brackets=int(self._opts["brackets"]),
            stop_last_trials=bool(self._opts["stop_last_trials"]),
        )

    def milestones(self) -> list[list[float]]:
        """Each bracket's milestones, ascending, as Ray computed them."""
        return [sorted(m for m, _ in b._rungs) for b in self.scheduler._brackets]

    def _check_ladder(self) -> None:
        below = self.budgets[:-1]
        for s, ms in enumerate(self.milestones()):
            decisive = [m for m in ms if m < self.max_budget]
            if any(m not in self.budgets for m in ms) or decisive != below[s:]:
                raise UsageError(
                    f"{self.name}: Ray's ASHA bracket {s} decides at {ms} (below max_t "
                    f"{self.max_budget}), not at the ladder's rungs {below[s:]}: Ray rounds this "
                    "ladder"
                )

    def _next_milestone(self, rt: RayTrial) -> int:
        have = self._epochs[rt.trial_id]
        bracket = self.scheduler._trial_info[rt.trial_id]
        ahead = [int(m) for m, _ in bracket._rungs if have < m < self.max_budget]
        return min(ahead) if ahead else self.max_budget

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "scheduler": "AsyncHyperBandScheduler",
            "search_alg": "BasicVariantGenerator",
            "grace_period": self.budgets[0],
            "max_t": self.max_budget,
            "reduction_factor": self.eta,
            "milestones": [[int(m) for m in ms] for ms in self.milestones()],
        }


class _RayHyperbandFamily(_RayTune):
    @property
    def unit(self) -> int:  # type: ignore[override]
        """Ray's Hyperband counts in units of the ladder's smallest rung (it has no minimum budget)."""
        return int(self.budgets[0])

    @property
    def max_t(self) -> int:
        return self.max_budget // self.unit

    def brackets(self) -> list[list[int]]:
        """Each bracket's rungs in benchmark budgets, in the order Ray creates them, computed with
        the scheduler's own ``_get_r0`` and ``_Bracket.successive_halving``'s
        ``int(min(r * eta, max_t))`` in its units, times the unit."""
        sch = self.scheduler
        out = []
        for s in self._bracket_order():
            r, rungs = sch._get_r0(s), []
            rungs.append(r)
            for _ in range(s):
                r = int(min(r * sch._eta, sch._max_t_attr))
                rungs.append(r)
            out.append([int(r) * self.unit for r in rungs])
        return out

    def _bracket_order(self) -> list[int]:
        return list(range(self.scheduler._s_max_1))

    def bracket_sizes(self) -> list[int]:
        return [self.scheduler._get_n0(s) for s in self._bracket_order()]

    def _check_ladder(self) -> None:
        brackets = self.brackets()
        want = sorted((self.budgets[k:] for k in range(len(self.budgets))), key=len)
        if sorted(brackets, key=len) != want:
            raise UsageError(
                f"{self.name}: Ray's Hyperband brackets climb {brackets}, not the ladder "
                f"{self.budgets} (one bracket per rung): Ray computes them from max_t alone "
                "(no minimum budget) and rounds, in units of "
                f"{self.unit} (the smallest rung): it accepts only ladders it does not round"
            )

    def _next_milestone(self, rt: RayTrial) -> int:
        bracket, _ = self.scheduler._trial_info[rt]
        return int(bracket._cumul_r) * self.unit

    def _bracket_info(self, rt: RayTrial) -> dict[str, Any]:
        bracket, band = self.scheduler._trial_info[rt]
        s = len(self.budgets) - 1 - self.budgets.index(int(bracket._r0) * self.unit)  # the rungs it climbs, less one
        return {"bracket": (band, s)}

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "max_t": self.max_t,
            "time_unit": self.unit,
            "reduction_factor": self.eta,
            "s_max_1": self.scheduler._s_max_1,
            "brackets": self.brackets(),
            "bracket_sizes": self.bracket_sizes(),
            "halving": "n = ceil(n / eta) (Ray)",
        }


class RayHyperband(_RayHyperbandFamily):
    """Hyperband (Li et al. 2017) as ``HyperBandScheduler``, with Ray's random search."""

    name = "ray-hyperband"
    _option_defaults: ClassVar[dict[str, Any]] = {"stop_last_trials": True}

    def _make_scheduler(self) -> TrialScheduler:
        return HyperBandScheduler(
            time_attr=TIME_ATTR,
            metric=METRIC,
            mode="min",
            max_t=self.max_t,
            reduction_factor=self.eta,
            stop_last_trials=bool(self._opts["stop_last_trials"]),
        )

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "scheduler": "HyperBandScheduler", "search_alg": "BasicVariantGenerator"}


class RayBOHB(_RayHyperbandFamily):
    """BOHB (Falkner et al. 2018) as ``HyperBandForBOHB`` + ``TuneBOHB`` (hpbandster's KDE).

    hpbandster's KDE refuses ordinal hyperparameters: TuneBOHB is handed them as integer indices
    (order kept) and they are mapped back, as in the ``bohb`` adapter."""

    name = "ray-bohb"
    _option_defaults: ClassVar[dict[str, Any]] = {"bohb_config": None}

    def _make_scheduler(self) -> TrialScheduler:
        return HyperBandForBOHB(
            time_attr=TIME_ATTR, metric=METRIC, mode="min", max_t=self.max_t, reduction_factor=self.eta
        )

    def _bracket_order(self) -> list[int]:
        return list(reversed(range(self.scheduler._s_max_1)))  # BOHB starts with the widest bracket

    def _make_search_alg(self) -> tuple[Any, int]:
        from mfbench.optimizers.adapters.hpbandster import ordinals_as_indices

        lib_space, self._ordinals = ordinals_as_indices(self.space)
        logging.getLogger("hpbandster").setLevel(logging.WARNING)
        self.searcher = TuneBOHB(
            space=lib_space, bohb_config=self._opts["bohb_config"], metric=METRIC, mode="min", seed=self.seed
        )
        gen = SearchGenerator(self.searcher)
        self._add_experiment(gen, {})
        return gen, PENDING_OTHER

    def _from_library(self, config: dict[str, Any]) -> dict[str, Any]:
        return from_ordinal_indices(self.space, config, self._ordinals)

    def settings(self) -> dict[str, Any]:
        cg = self.searcher.bohber
        kde = {
            k: getattr(cg, k)
            for k in (
                "min_points_in_model",
                "top_n_percent",
                "num_samples",
                "random_fraction",
                "bw_factor",
                "min_bandwidth",
            )
        }
        out = {
            **super().settings(),
            "scheduler": "HyperBandForBOHB",
            "search_alg": "SearchGenerator(TuneBOHB)",
            "kde": kde,
            "hpbandster_version": importlib.metadata.version("hpbandster"),
        }
        if self._ordinals:
            out["space_conversion"] = {"ordinal_to_integer_index": sorted(self._ordinals)}
        return out


__all__ = ["RayASHA", "RayBOHB", "RayHyperband", "active_part", "ray_param_space"]
