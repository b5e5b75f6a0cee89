"""Optuna's TPE through ``study.ask`` / ``study.tell``: ``tpe`` (every trial at the largest
rung), ``tpe-asha`` (SuccessiveHalvingPruner, i.e. asynchronous successive halving) and
``tpe-hb`` (HyperbandPruner).

The space is walked in ConfigSpace's topological order; an inactive hyperparameter is never
suggested (so TPE sees a conditional space, not noise), a constant is never suggested, an
ordinal is suggested as the integer index of its sequence (``suggest_int``: its order stays
visible to TPE), a categorical through ``suggest_categorical`` with its native choices.

Pruned optimizers: one Optuna trial is *one training* on the largest rung's schedule whose
intermediate values are reported at the ladder's rungs. Each rung is therefore asked as a
``continue`` trial with ``resume_from`` = the previous rung (0 for the first), and the
runner charges only the extra epochs; a pruned training stops there, a training that reaches
the last rung completes the Optuna trial. A training whose next rung is due is resumed before
a new one is started (the way an Optuna worker keeps training its own trial). Reported
steps are epochs, the pruners' ``min_resource`` is the first rung and ``reduction_factor``
the ladder's ratio, so their rungs are the ladder; Optuna counts Hyperband's brackets with a
floating-point logarithm that loses one for some ladders (1..243, eta 3): the adapter then
sets the count to the number of rungs and says so in ``settings()``.

Optuna 5.0's TPE defaults (multivariate for one objective, ``constant_liar`` on) are kept and
recorded. ``optuna.logging`` is set to WARNING (Optuna logs every finished trial at INFO).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import optuna
from ConfigSpace import ConfigurationSpace, Constant
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    FloatHyperparameter,
    IntegerHyperparameter,
    OrdinalHyperparameter,
)
from ConfigSpace.types import NotSet
from optuna.pruners import BasePruner, HyperbandPruner, NopPruner, SuccessiveHalvingPruner
from optuna.trial import TrialState

from mfbench.core.errors import UsageError
from mfbench.core.types import Capabilities, Result, Trial
from mfbench.optimizers.base import Optimizer, ladder_eta
from mfbench.training.space import native, to_config, validate_config

#: Give up proposing after this many draws in a row hit a forbidden clause.
MAX_FORBIDDEN_RETRIES = 1000


def suggest_config(trial: optuna.trial.Trial, cs: ConfigurationSpace) -> dict[str, Any]:
    """Draw the active hyperparameters of ``cs`` through ``trial.suggest_*`` and return the
    configuration as natives."""
    values: dict[str, Any] = {}
    for name in cs.keys():  # topological: parents are decided before their children
        hp = cs[name]
        if not all(c.satisfied_by_value(values) for c in cs.parent_conditions_of.get(name, [])):
            values[name] = NotSet
            continue
        if isinstance(hp, Constant):
            values[name] = hp.value
        elif isinstance(hp, CategoricalHyperparameter):
            choices = list(hp.choices)
            pick = trial.suggest_categorical(name, [native(c) for c in choices])
            values[name] = choices[[native(c) for c in choices].index(pick)]
        elif isinstance(hp, OrdinalHyperparameter):
            values[name] = hp.sequence[trial.suggest_int(name, 0, len(hp.sequence) - 1)]
        elif isinstance(hp, IntegerHyperparameter):
            values[name] = trial.suggest_int(name, int(hp.lower), int(hp.upper), log=bool(hp.log))
        elif isinstance(hp, FloatHyperparameter):
            values[name] = trial.suggest_float(name, float(hp.lower), float(hp.upper), log=bool(hp.log))
        else:
            raise UsageError(f"optuna adapter: unsupported hyperparameter {name!r} ({type(hp).__name__})")
    return to_config({n: v for n, v in values.items() if v is not NotSet})


@dataclass
class _Handle:
    """Per-trial library state carried in ``Trial.info``."""

    trial: optuna.trial.Trial
    rung: int  # index into the ladder of the budget being evaluated


class _OptunaTPE(Optimizer):
    on_crash = "Optuna's TrialState.FAIL"
    pruned: ClassVar[bool] = False

    def __init__(
        self,
        space: ConfigurationSpace,
        budgets: Sequence[int],
        seed: int,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        multivariate: bool | None = None,
        group: bool = False,
        constant_liar: bool = True,
        continuation: bool = True,
        **options: Any,
    ):
        super().__init__(space, budgets, seed, **options)
        # without continuation each rung is paid as a fresh training (scratch): honest, dearer
        self.continuation = bool(continuation)
        if options:
            raise UsageError(f"{self.name}: unknown options {sorted(options)}")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.sampler = optuna.samplers.TPESampler(
            seed=self.seed,
            n_startup_trials=int(n_startup_trials),
            n_ei_candidates=int(n_ei_candidates),
            multivariate=multivariate,
            group=bool(group),
            constant_liar=bool(constant_liar),
        )
        self.eta: int | None = ladder_eta(self.budgets) if self.pruned else None
        self.study_name = f"mfbench-{self.name}-seed{self.seed}"  # HyperbandPruner hashes it
        self.pruner = self._make_pruner()
        self.study = optuna.create_study(
            direction="minimize", sampler=self.sampler, pruner=self.pruner, study_name=self.study_name
        )
        self._check_pruner()
        self._has_forbiddens = bool(space.forbidden_clauses)
        self._ready: deque[tuple[_Handle, dict[str, Any]]] = deque()  # trainings whose next rung is due

    def _make_pruner(self) -> BasePruner:
        return NopPruner()

    def _check_pruner(self) -> None:
        pass

    def _new_trial(self) -> tuple[optuna.trial.Trial, dict[str, Any]]:
        for _ in range(MAX_FORBIDDEN_RETRIES):
            ot = self.study.ask()
            config = suggest_config(ot, self.space)
            if not self._has_forbiddens:
                return ot, config
            try:
                validate_config(self.space, config)
                return ot, config
            except UsageError:  # forbidden: a failed trial, which TPE ignores
                self.study.tell(ot, state=TrialState.FAIL)
        raise RuntimeError(f"{self.name}: {MAX_FORBIDDEN_RETRIES} draws in a row hit a forbidden clause")

    def ask(self) -> Trial:
        if not self.pruned:
            ot, config = self._new_trial()
            return Trial(config=config, budget=self.max_budget, mode="scratch", info=_Handle(ot, len(self.budgets) - 1))
        if self._ready:
            handle, config = self._ready.popleft()
            k = handle.rung
            if not self.continuation:
                return Trial(config=config, budget=self.budgets[k], mode="scratch", info=handle)
            return Trial(
                config=config, budget=self.budgets[k], mode="continue", resume_from=self.budgets[k - 1], info=handle
            )
        ot, config = self._new_trial()
        if not self.continuation:
            return Trial(config=config, budget=self.budgets[0], mode="scratch", info=_Handle(ot, 0))
        return Trial(config=config, budget=self.budgets[0], mode="continue", resume_from=0, info=_Handle(ot, 0))

    def tell(self, trial: Trial, result: Result) -> None:
        handle: _Handle = trial.info
        obs = self.observe(result)  # the failure policy: a crash is Optuna's own FAIL state
        if obs.crashed:
            self.study.tell(handle.trial, state=TrialState.FAIL)
            return
        value = obs.loss
        last = handle.rung == len(self.budgets) - 1
        if self.pruned:
            handle.trial.report(value, step=self.check_budget(trial.budget))
        if last:
            self.study.tell(handle.trial, value)
            return
        if handle.trial.should_prune():
            self.study.tell(handle.trial, state=TrialState.PRUNED)
            return
        self._ready.append((_Handle(handle.trial, handle.rung + 1), trial.config))

    def settings(self) -> dict[str, Any]:
        s = self.sampler
        pe = s._parzen_estimator_parameters
        return {
            **super().settings(),
            **self.library_header("optuna"),
            "continuation": self.continuation,
            "sampler": {
                "name": "TPESampler",
                "seed": self.seed,
                "n_startup_trials": s._n_startup_trials,
                "n_ei_candidates": s._n_ei_candidates,
                "multivariate": s._is_multivariate(self.study),
                "group": s._group,
                "constant_liar": s._constant_liar,
                "consider_prior": True,
                "prior_weight": pe.prior_weight,
                "consider_magic_clip": pe.consider_magic_clip,
                "consider_endpoints": pe.consider_endpoints,
                "gamma": getattr(s._gamma, "__name__", None) or "optuna default_gamma",
                "weights": getattr(pe.weights, "__name__", str(pe.weights)),
            },
            "pruner": self._pruner_settings(),
            "study_name": self.study_name,
            "ordinal_encoding": "suggest_int over the sequence index",
            "budget": (
                "one training per Optuna trial on the largest schedule, reported at every rung "
                "(continue from the previous rung); pruned trainings stop"
                if self.pruned
                else "max rung, from scratch"
            ),
        }

    def _pruner_settings(self) -> dict[str, Any]:
        return {"name": type(self.pruner).__name__}


class TPE(_OptunaTPE):
    name = "tpe"
    capabilities = Capabilities(multi_fidelity=False, continuation=False)


class TPEASHA(_OptunaTPE):
    name = "tpe-asha"
    capabilities = Capabilities(multi_fidelity=True, continuation=True)
    pruned = True

    def _make_pruner(self) -> BasePruner:
        return SuccessiveHalvingPruner(
            min_resource=self.budgets[0], reduction_factor=self.eta, min_early_stopping_rate=0, bootstrap_count=0
        )

    def _pruner_settings(self) -> dict[str, Any]:
        p = self.pruner
        return {
            "name": "SuccessiveHalvingPruner",
            "min_resource": p._min_resource,
            "reduction_factor": p._reduction_factor,
            "min_early_stopping_rate": p._min_early_stopping_rate,
            "bootstrap_count": p._bootstrap_count,
        }


class TPEHyperband(_OptunaTPE):
    name = "tpe-hb"
    capabilities = Capabilities(multi_fidelity=True, continuation=True)
    pruned = True

    def _make_pruner(self) -> BasePruner:
        self.n_brackets_fixed = False
        return HyperbandPruner(
            min_resource=self.budgets[0], max_resource=self.budgets[-1], reduction_factor=self.eta, bootstrap_count=0
        )

    def _check_pruner(self) -> None:
        p: HyperbandPruner = self.pruner
        optuna_count = math.floor(math.log(self.budgets[-1] / self.budgets[0], self.eta)) + 1
        if optuna_count != len(self.budgets):
            p._n_brackets = len(self.budgets)  # Optuna's float log lost a bracket: one per rung
            self.n_brackets_fixed = True
        p._try_initialization(self.study)
        starts = sorted(sp._min_resource * self.eta**sp._min_early_stopping_rate for sp in p._pruners)
        if starts != self.budgets:
            raise AssertionError(f"{self.name}: Hyperband brackets start at {starts}, ladder is {self.budgets}")

    def _pruner_settings(self) -> dict[str, Any]:
        p = self.pruner
        return {
            "name": "HyperbandPruner",
            "min_resource": p._min_resource,
            "max_resource": p._max_resource,
            "reduction_factor": p._reduction_factor,
            "bootstrap_count": p._bootstrap_count,
            "n_brackets": p._n_brackets,
            "n_brackets_fixed": self.n_brackets_fixed,
            "trial_allocation_budgets": list(p._trial_allocation_budgets),
        }
