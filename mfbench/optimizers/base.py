"""The ask/tell protocol every optimizer speaks, and the registry ``replay --optimizers`` reads.

The runner owns the loop, the clock, the budget and the seeds: an optimizer only proposes
(``ask``) and learns (``tell``). It never calls the objective and never decides when to stop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ConfigSpace import ConfigurationSpace

from mfbench.core.errors import UsageError
from mfbench.core.types import Capabilities, Result, Trial

#: the largest validation error there is: what a crash counts as before anything was observed
WORST_ERROR = 1.0


@dataclass(frozen=True)
class Observation:
    """What an optimizer learns from one result, under the one failure policy of mfbench.

    - ``ok`` and ``diverged`` are real outcomes: a diverged training is a network that exists
      and is scored by its recorded error (a table or a real training reports chance level for
      a network that diverged before the budget). It is never a crash.
    - ``failed`` (or a non-finite error) is a crash: the evaluation produced no network. Each
      adapter hands it to its library through the library's own crash mechanism (SMAC's
      ``CRASHED``, Optuna's ``FAIL``, hyperopt's ``STATUS_FAIL``, hpbandster's +inf loss, the
      GA's +inf fitness); a library with none (DEHB, Keras Tuner, mfbench's OptiML) gets
      ``worst_seen``: the worst error observed so far in the run (``WORST_ERROR`` before any).
    """

    loss: float  # the observed error; ``worst_seen`` for a crash
    crashed: bool
    worst_seen: float


class Optimizer:
    """Base class. Subclasses set ``name`` and ``capabilities`` and implement ask/tell.

    Constructed as ``cls(space, budgets, seed, **options)``: ``space`` is the benchmark's
    ConfigSpace (its ``budgets`` ladder, ascending ints). ``settings()`` is written into the
    run's manifest: every library option that decides behaviour.
    """

    name: ClassVar[str] = "?"
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: the option through which a library sizes itself by the run's length, as its user would
    #: (SMAC's initial design is a fraction of ``n_trials``); ``for_objective`` sets it to the
    #: number of largest-budget trainings the run's budget affords. The runner still stops the run.
    budget_option: ClassVar[str | None] = None
    #: the boolean option through which a library is told that the objective is deterministic
    #: (SMAC's ``Scenario(deterministic=...)``: otherwise its intensifier re-evaluates a
    #: configuration on new seeds, which on a noise-free benchmark returns the same value at full
    #: price); ``for_objective`` sets it from ``objective.deterministic``, as a user of the
    #: library is told to
    deterministic_option: ClassVar[str | None] = None
    #: how this optimizer's library receives a crash (the failure policy, see ``Observation``)
    on_crash: ClassVar[str] = "the worst error seen in the run (the library has no crash mechanism)"

    def __init__(self, space: ConfigurationSpace, budgets: Sequence[int], seed: int, **options: Any):
        self.space = space
        self.budgets = [int(b) for b in budgets]
        if self.budgets != sorted(self.budgets) or len(set(self.budgets)) != len(self.budgets):
            raise UsageError(f"budget ladder must be strictly ascending, got {self.budgets}")
        self.max_budget = self.budgets[-1]
        self.seed = int(seed)
        self.options = options
        self._worst_seen = -math.inf

    def observe(self, result: Result) -> Observation:
        """Apply the failure policy to ``result`` (see ``Observation``). Every ``tell`` calls it
        once per result, so that ``worst_seen`` is the worst error of the run so far."""
        loss = float(result.val_error)
        crashed = result.status == "failed" or not math.isfinite(loss)
        if not crashed:
            self._worst_seen = max(self._worst_seen, loss)
        worst = self._worst_seen if math.isfinite(self._worst_seen) else WORST_ERROR
        return Observation(worst if crashed else loss, crashed, worst)

    def ask(self) -> Trial:
        raise NotImplementedError

    def tell(self, trial: Trial, result: Result) -> None:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """What the run's manifest records of this optimizer: every option that decides behaviour."""
        return {"name": self.name, "seed": self.seed, **self.options}

    def describe(self) -> dict[str, Any]:
        """What a study's manifest records of this optimizer: its settings, how a crash reaches
        its library (the failure policy) and what it can do (its capabilities)."""
        caps = self.capabilities
        return {
            **self.settings(),
            "on_crash": self.on_crash,
            "capabilities": {"multi_fidelity": caps.multi_fidelity, "continuation": caps.continuation},
        }

    def library_header(self, library: str, distribution: str | None = None) -> dict[str, Any]:
        """The head of an adapter's ``settings()``: the optimizer's name and seed, and the library
        that decides its behaviour at its installed version (``distribution``: the package name
        where it differs from ``library``)."""
        from importlib.metadata import version

        return {
            "name": self.name,
            "seed": self.seed,
            "library": library,
            "library_version": version(distribution or library),
        }

    def resolve_options(self, options: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
        """``defaults`` updated with ``options``; an unknown option is a usage error (a typo
        would otherwise silently run the default)."""
        unknown = set(options) - set(defaults)
        if unknown:
            raise UsageError(f"{self.name}: unknown options {sorted(unknown)}; known: {sorted(defaults)}")
        return {**defaults, **options}

    def check_budget(self, budget: float) -> int:
        """Map a library's budget back onto the ladder, refusing anything off it (several
        libraries compute rungs in floating point and lose or shift one)."""
        for b in self.budgets:
            if abs(float(budget) - b) < 1e-6 * b:
                return b
        raise AssertionError(f"{self.name}: budget {budget} is not on the ladder {self.budgets}")


def ladder_eta(budgets: Sequence[int]) -> int:
    """The integer ratio of a geometric ladder ``min * eta**k``, which Hyperband-style
    optimizers need; refuse any other ladder rather than let a library round it."""
    if len(budgets) < 2:
        raise UsageError(f"a multi-fidelity optimizer needs at least two rungs, got {list(budgets)}")
    eta, rem = divmod(int(budgets[1]), int(budgets[0]))
    if rem or eta < 2 or any(b != budgets[0] * eta**k for k, b in enumerate(budgets)):
        raise UsageError(f"ladder {list(budgets)} is not geometric with an integer ratio (min * eta**k)")
    return int(eta)


def for_objective(
    cls: type[Optimizer],
    objective: Any,
    seed: int,
    budgets: Sequence[int] | None = None,
    full_budgets: float | None = None,
    **options: Any,
) -> Optimizer:
    """Construct ``cls`` for ``objective``, telling an optimizer that can continue trainings
    whether this objective can (otherwise it must pay for every rung from scratch), one
    that sizes itself by the run's length how many largest-budget trainings it affords, and one
    whose library asks whether the objective is deterministic what the objective declares."""
    if cls.capabilities.continuation:
        options.setdefault("continuation", bool(objective.supports_continuation))
    if cls.budget_option and full_budgets is not None and math.isfinite(full_budgets) and full_budgets > 0:
        options.setdefault(cls.budget_option, max(1, int(round(full_budgets))))
    if cls.deterministic_option:
        options.setdefault(cls.deterministic_option, bool(getattr(objective, "deterministic", False)))
    return cls(objective.space, objective.budgets if budgets is None else budgets, seed, **options)
