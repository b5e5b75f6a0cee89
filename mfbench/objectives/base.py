"""The objective interface shared by real, tabular and surrogate objectives.

``evaluate(config, budget, seed, *, mode, resume_from) -> Result``. The optimized metric is
the validation error; test metrics are reported, never optimized. ``cost_seconds`` and
``cost_epochs`` are what the evaluation *costs* (with ``mode="continue"`` only the extra
epochs), which is what the runner's simulated clock charges.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ConfigSpace import ConfigurationSpace

from mfbench.core.errors import UsageError
from mfbench.core.types import MODES, Result

log = logging.getLogger(__name__)


class Objective(ABC):
    """The interface every objective declares (real, tabular, surrogate, LCBench, synthetic).

    - ``name``: the benchmark's label; ``kind``: ``"real"``, ``"tabular"``, ``"surrogate"``,
      ``"yahpo"``, ``"synthetic"`` (empty for an objective outside those: its manifest names it);
    - ``space`` (ConfigSpace) and ``budgets`` (the ladder, ascending ints), ``max_budget``;
    - ``supports_continuation``: whether ``mode="continue"`` resumes a training (the runner and
      the optimizers read it; an objective that cannot pays every rung from scratch);
    - ``deterministic``: whether seeds change an evaluation (False: a noisy objective);
    - ``optimum`` (best noise-free mean validation error at the largest budget, and its test
      error) and ``bounds`` (the best and worst values that normalize regret): what a replay
      needs to score a run; an objective used only to drive an optimizer may leave them out.
    """

    name: str = "objective"
    kind: ClassVar[str] = ""
    space: ConfigurationSpace
    budgets: list[int]
    supports_continuation: bool = True
    #: the same (configuration, budget, mode) always gives the same values, whatever the seed
    #: (LCBench's model, a table or surrogate read at its mean, a noise-free synthetic
    #: objective). ``for_objective`` tells the libraries that ask (SMAC), so that they do not
    #: re-evaluate a configuration hoping for another value.
    deterministic: bool = False

    @property
    def max_budget(self) -> int:
        return int(self.budgets[-1])

    @abstractmethod
    def evaluate(
        self,
        config: Mapping[str, Any],
        budget: int,
        seed: int,
        *,
        mode: str = "scratch",
        resume_from: int | None = None,
        curve: bool = False,
    ) -> Result:
        """One evaluation of ``config`` at ``budget`` epochs, its noise drawn from ``seed``."""

    def evaluate_batch(
        self, configs: Sequence[Mapping[str, Any]], budget: int, seeds: Sequence[int], **kw: Any
    ) -> list[Result]:
        return [self.evaluate(c, budget, s, **kw) for c, s in zip(configs, seeds)]

    @abstractmethod
    def true_value(self, config: Mapping[str, Any]) -> tuple[float, float]:
        """Noise-free mean (val_error, test_error) at the largest budget: how the runner scores
        an incumbent, so that a lucky seed does not flatter an optimizer."""

    def full_budget_cost(self) -> float:
        """Seconds of one typical training at the largest budget: the unit of ``--budget 50x``."""
        raise NotImplementedError(f"{type(self).__name__} declares no full-budget cost")

    @property
    def optimum(self) -> dict[str, float]:
        """``{"val_error": ..., "test_error": ...}`` of the best configuration known."""
        raise NotImplementedError(f"{type(self).__name__} declares no optimum")

    @property
    def bounds(self) -> dict[str, float]:
        """``{"best": ..., "worst": ...}`` noise-free val errors: regret is normalized by them."""
        raise NotImplementedError(f"{type(self).__name__} declares no bounds")

    def manifest(self) -> dict[str, Any]:
        """What identifies this objective in a run's manifest (name, kind, hashes)."""
        return {"name": self.name, "kind": type(self).__name__}

    def check_call(self, budget: int, mode: str, resume_from: int | None) -> None:
        if mode not in MODES:
            raise UsageError(f"mode must be one of {MODES}, got {mode!r}")
        if budget not in self.budgets and not (self.budgets[0] <= budget <= self.budgets[-1]):
            raise UsageError(f"budget {budget} is outside the ladder {self.budgets}")
        if mode == "continue" and resume_from is not None and not (0 <= resume_from <= budget):
            raise UsageError(f"resume_from={resume_from} must be between 0 and the budget {budget}")


def finite_or(value: float, default: float) -> float:
    return value if value is not None and math.isfinite(value) else default


def _noise_mode(noise: str) -> str:
    if noise not in ("sample", "mean"):
        raise UsageError(f"noise must be 'sample' or 'mean', got {noise!r}")
    return noise
