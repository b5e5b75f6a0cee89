"""SMAC3 (2.x) through its ask/tell interface: ``smac-bo-gp`` (BlackBoxFacade, Gaussian
process), ``smac-bo-rf`` (HyperparameterOptimizationFacade, random forest) and ``smac-hb``
(MultiFidelityFacade: random forest + Hyperband intensifier).

What this adapter decides, and why:

- The runner owns the budget, so the scenario's ``n_trials`` is effectively infinite. SMAC
  sizes its initial design from ``n_trials`` (at most ``max_ratio * n_trials`` configs), so
  the initial design is sized as SMAC would for ``initial_design_trials`` trials: replay
  passes the number of largest-budget trainings the run's budget affords (``budget_option``),
  as a SMAC user would set ``n_trials``; 100 (SMAC's own default) when constructed without it;
  ``n_initial`` overrides both.
- Every facade gets a fresh temporary output directory (``overwrite=True``: an old run with
  matching metadata would otherwise be resumed silently), deleted when the optimizer is
  garbage-collected or at exit; ``tell`` does not write the run history to it.
- ``smac-bo-*`` evaluate at the largest rung from scratch. On a noisy objective the scenario is
  non-deterministic, so SMAC's intensifier re-evaluates promising configurations (up to 3
  seeds); a repeat is a new evaluation with the runner's seed. On a deterministic one
  (``Objective.deterministic``: LCBench, a table read at its mean) ``for_objective`` sets
  ``deterministic=True``, and SMAC evaluates each configuration once: before session 11 it
  re-evaluated a third of its LCBench budget into identical answers.
- ``smac-hb``: ``min_budget``/``max_budget`` are the ladder's ends and ``eta`` its ratio.
  SMAC computes the number of rungs as ``floor(log(max/min)/log(eta))``, which loses one
  for some ladders (1..243 with eta 3); the intensifier here rounds when the ratio is a power
  of eta within 1e-9, and the rungs are asserted equal to the ladder. Each rung is a training
  from scratch (SMAC's target function receives a budget, not a checkpoint). The same
  ``TrialInfo`` is handed back to SMAC (NOTES.md).
- SMAC iterates a set of configurations hashed by ``repr`` in its local search: across
  processes it is deterministic only with ``PYTHONHASHSEED`` fixed (recorded in settings).
- SMAC's logging setup is left alone (``logging_level=False``): SMAC does not reconfigure
  the application's root logger.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Sequence
from typing import Any, ClassVar

from ConfigSpace import ConfigurationSpace
from smac import BlackBoxFacade, HyperparameterOptimizationFacade, MultiFidelityFacade, Scenario
from smac.intensifier.hyperband import Hyperband
from smac.main.exceptions import ConfigurationSpaceExhaustedException
from smac.runhistory.dataclasses import TrialValue
from smac.runhistory.enumerations import StatusType

from mfbench.core.errors import SearchExhausted, UsageError
from mfbench.core.io import jsonable
from mfbench.core.types import Capabilities, Result, Trial
from mfbench.optimizers.adapters._common import seeded_copy
from mfbench.optimizers.base import Optimizer, ladder_eta
from mfbench.training.space import to_config

log = logging.getLogger(__name__)

#: The scenario's n_trials: SMAC never stops by itself before this, and the runner stops first.
UNBOUNDED_TRIALS = 2**31 - 1


class _OncePerMessage(logging.Filter):
    """Lets each distinct message through once per process: on an exhausted small space SMAC's
    config selector warns at every ask (thousands of identical lines in a study's log)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg in self.seen:
            return False
        self.seen.add(msg)
        return True


_SELECTOR_LOGGER = "smac.main.config_selector"


class _ExactHyperband(Hyperband):
    """SMAC's Hyperband with the number of rungs rounded instead of floored when
    ``max/min`` is a power of ``eta`` up to floating point (otherwise one rung is lost)."""

    @staticmethod
    def _get_max_iterations(eta: int, max_budget: float | int, min_budget: float | int) -> int:
        ratio = math.log(max_budget / min_budget) / math.log(eta)
        nearest = round(ratio)
        return int(nearest) if abs(ratio - nearest) < 1e-9 else int(math.floor(ratio))


def _never_called(config: Any, seed: int = 0) -> float:
    raise RuntimeError("mfbench drives SMAC through ask/tell: the target function is never run")


def _never_called_mf(config: Any, seed: int = 0, budget: float = 0.0) -> float:
    raise RuntimeError("mfbench drives SMAC through ask/tell: the target function is never run")


class _SmacOptimizer(Optimizer):
    """Common ask/tell plumbing around one SMAC facade."""

    on_crash = "SMAC's StatusType.CRASHED (cost = crash_cost)"

    facade_class: ClassVar[type] = HyperparameterOptimizationFacade
    uses_budgets: ClassVar[bool] = False
    #: SMAC sizes its initial design from the scenario's n_trials: replay sets this to the
    #: number of largest-budget trainings the run affords, as a SMAC user would set n_trials
    #: (with the default of 100, a 30x run spends its whole budget in the initial design)
    budget_option: ClassVar[str | None] = "initial_design_trials"
    #: Scenario(deterministic=...): replay sets it from the objective (True on LCBench), as
    #: SMAC's documentation tells its user; the default, False, is for noisy objectives
    deterministic_option: ClassVar[str | None] = "deterministic"

    def __init__(
        self,
        space: ConfigurationSpace,
        budgets: Sequence[int],
        seed: int,
        n_initial: int | None = None,
        initial_design_trials: int = 100,
        deterministic: bool = False,
        crash_cost: float = 1.0,
        **options: Any,
    ):
        super().__init__(space, budgets, seed, **options)
        if options:
            raise UsageError(f"{self.name}: unknown options {sorted(options)}")
        self._space = seeded_copy(space, self.seed)  # its RNG is SMAC's alone
        self._outdir = tempfile.mkdtemp(prefix=f"mfbench-{self.name}-")
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._outdir, True)
        smac_logger = logging.getLogger("smac")
        if smac_logger.level == logging.NOTSET:
            smac_logger.setLevel(logging.WARNING)  # SMAC is chatty at INFO; the app may lower it
        selector = logging.getLogger(_SELECTOR_LOGGER)
        if not any(isinstance(f, _OncePerMessage) for f in selector.filters):
            selector.addFilter(_OncePerMessage())

        scenario_kw: dict[str, Any] = {}
        self.eta: int | None = None
        if self.uses_budgets:
            self.eta = ladder_eta(self.budgets)
            scenario_kw = {"min_budget": self.budgets[0], "max_budget": self.budgets[-1]}
        self.scenario = Scenario(
            self._space,
            name=f"mfbench-{self.name}-{self.seed}",
            output_directory=self._outdir,
            deterministic=bool(deterministic),
            crash_cost=float(crash_cost),
            n_trials=UNBOUNDED_TRIALS,
            seed=self.seed,
            **scenario_kw,
        )
        self.crash_cost = float(crash_cost)
        self.initial_design_trials = int(initial_design_trials)
        self.n_initial = n_initial if n_initial is not None else self._default_n_initial()
        facade_kw: dict[str, Any] = {
            "initial_design": self.facade_class.get_initial_design(self.scenario, n_configs=int(self.n_initial)),
        }
        if self.uses_budgets:
            facade_kw["intensifier"] = _ExactHyperband(
                scenario=self.scenario,
                eta=self.eta,
                n_seeds=1,
                instance_seed_order="shuffle_once",
                max_incumbents=10,
                incumbent_selection="highest_observed_budget",
            )
        target = _never_called_mf if self.uses_budgets else _never_called
        self.facade = self.facade_class(self.scenario, target, logging_level=False, overwrite=True, **facade_kw)
        # SMAC's ``meta`` describes its components as they stand: a GP's kernel reports the
        # hyperparameters it was last fitted to. The settings are what SMAC was configured with,
        # so they are read now, before any fit (read after a run, every run of ``smac-bo-gp``
        # recorded other settings and looked like a mix of versions of it)
        self._meta = {k: jsonable(v) for k, v in self.facade.meta.items() if k != "runner"}  # runner: bytecode
        self._rungs_checked = False
        if self.uses_budgets:
            self._check_rungs()

    def _default_n_initial(self) -> int:
        """SMAC's own rule (per-hyperparameter count, capped by max_ratio * n_trials) for a
        run of ``initial_design_trials`` trials."""
        import inspect

        params = inspect.signature(self.facade_class.get_initial_design).parameters
        per_hp = params["n_configs_per_hyperparameter"].default
        max_ratio = params["max_ratio"].default
        n_hps = len(list(self._space.values()))
        return int(max(1, min(per_hp * n_hps, max_ratio * self.initial_design_trials)))

    def _check_rungs(self) -> None:
        """Assert that SMAC's Hyperband rungs are the ladder: before the first ask from the
        intensifier's own formulas, after it from the brackets it actually built."""
        intens = self.facade.intensifier
        stages = getattr(intens, "_budgets_in_stage", None)
        if stages is None:
            lo, hi = self.budgets[0], self.budgets[-1]
            s_max = intens._get_max_iterations(self.eta, hi, lo)
            stages = {
                i: intens._compute_configs_and_budgets_for_stages(self.eta, hi, s_max - i, s_max)[0]
                for i in range(s_max + 1)
            }
        seen = {self.check_budget(b) for stage in stages.values() for b in stage}
        if sorted(seen) != self.budgets:
            raise AssertionError(f"{self.name}: SMAC's Hyperband rungs {sorted(seen)} != ladder {self.budgets}")

    def ask(self) -> Trial:
        try:
            with warnings.catch_warnings():
                # SMAC's local search logs np.mean of an empty timing list: noise, not a fault
                warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
                warnings.filterwarnings("ignore", "invalid value encountered in scalar divide", RuntimeWarning)
                info = self.facade.ask()
        except (StopIteration, ConfigurationSpaceExhaustedException):
            raise SearchExhausted(
                f"{self.name}: SMAC cannot propose a new configuration: its config selector found none it had "
                f"not evaluated yet (configuration space exhausted after {len(self.facade.runhistory)} trials)"
            ) from None
        if self.uses_budgets:
            if not self._rungs_checked:
                self._check_rungs()
                self._rungs_checked = True
            budget, mode = self.check_budget(info.budget), "scratch"
        else:
            budget, mode = self.max_budget, "scratch"
        return Trial(config=to_config(info.config), budget=budget, mode=mode, info=info)

    def tell(self, trial: Trial, result: Result) -> None:
        obs = self.observe(result)  # the failure policy: a crash is SMAC's own CRASHED (cost = crash_cost)
        if obs.crashed:
            value = TrialValue(cost=self.crash_cost, time=float(result.cost_seconds), status=StatusType.CRASHED)
        else:
            value = TrialValue(cost=obs.loss, time=float(result.cost_seconds), status=StatusType.SUCCESS)
        self.facade.tell(trial.info, value, save=False)

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            **self.library_header("smac"),
            "facade": self.facade_class.__name__,
            "n_trials": UNBOUNDED_TRIALS,
            "n_initial": int(self.n_initial),
            "initial_design_trials": self.initial_design_trials,
            "deterministic": bool(self.scenario.deterministic),
            "crash_cost": self.crash_cost,
            "min_budget": self.scenario.min_budget,
            "max_budget": self.scenario.max_budget,
            "eta": self.eta,
            "budget": (
                "ladder rungs from Hyperband, each from scratch" if self.uses_budgets else "max rung, from scratch"
            ),
            "pythonhashseed": os.environ.get("PYTHONHASHSEED"),
            "meta": self._meta,
        }

    def close(self) -> None:
        """Delete SMAC's output directory now (it is deleted at exit or collection anyway)."""
        self._finalizer()


class SmacBOGP(_SmacOptimizer):
    name = "smac-bo-gp"
    capabilities = Capabilities(multi_fidelity=False, continuation=False)
    facade_class = BlackBoxFacade


class SmacBORF(_SmacOptimizer):
    name = "smac-bo-rf"
    capabilities = Capabilities(multi_fidelity=False, continuation=False)
    facade_class = HyperparameterOptimizationFacade


class SmacHyperband(_SmacOptimizer):
    name = "smac-hb"
    capabilities = Capabilities(multi_fidelity=True, continuation=False)
    facade_class = MultiFidelityFacade
    uses_budgets = True
