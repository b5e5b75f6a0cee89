"""The objective interface shared by real, tabular and surrogate objectives.

``evaluate(config, budget, seed, *, mode, resume_from) -> Result``. The optimized metric is
the validation error; test metrics are reported, never optimized. ``cost_seconds`` and
``cost_epochs`` are what the evaluation *costs* (with ``mode="continue"`` only the extra
epochs), which is what the runner's simulated clock charges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ConfigSpace import ConfigurationSpace

from mfbench.errors import UsageError

MODES = ("scratch", "continue")


@dataclass
class Result:
    val_error: float  # the optimized metric (1 - validation accuracy)
    cost_seconds: float
    cost_epochs: int
    metrics: dict[str, float] = field(default_factory=dict)  # test_error, val_f1, test_f1, ...
    status: str = "ok"  # ok / diverged / failed
    curve: dict[str, list[float]] | None = None  # per-epoch values when asked for

    @property
    def loss(self) -> float:
        return self.val_error


class Objective:
    """Base class for objectives.

    Attributes every objective has: ``name``, ``space`` (ConfigSpace), ``budgets`` (the
    ladder, ascending ints), ``max_budget``, ``optimum`` (best noise-free mean validation error
    at the largest budget, and its test error), ``bounds`` (the worst and best values used to
    normalize regret), ``supports_continuation``.
    """

    name: str = "objective"
    space: ConfigurationSpace
    budgets: list[int]
    supports_continuation: bool = True

    @property
    def max_budget(self) -> int:
        return int(self.budgets[-1])

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
        raise NotImplementedError

    def evaluate_batch(
        self, configs: Sequence[Mapping[str, Any]], budget: int, seeds: Sequence[int], **kw: Any
    ) -> list[Result]:
        return [self.evaluate(c, budget, s, **kw) for c, s in zip(configs, seeds)]

    def true_value(self, config: Mapping[str, Any]) -> tuple[float, float]:
        """Noise-free mean (val_error, test_error) at the largest budget: how the runner scores
        an incumbent, so that a lucky seed does not flatter an optimizer."""
        raise NotImplementedError

    def full_budget_cost(self) -> float:
        """Seconds of one typical training at the largest budget: the unit of ``--budget 50x``."""
        raise NotImplementedError

    @property
    def optimum(self) -> dict[str, float]:
        """``{"val_error": ..., "test_error": ...}`` of the best configuration known."""
        raise NotImplementedError

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


class SyntheticObjective(Objective):
    """A cheap multi-fidelity function over any ConfigSpace space, for tests of optimizers.

    Each active numerical hyperparameter contributes a smooth bowl around a fixed optimum (in
    the normalized, log-aware coordinates), each categorical a fixed penalty per value; the
    value at budget ``b`` approaches the full-budget value as ``b`` grows (``+ c / b``), and
    the observation noise is Gaussian, seeded by ``(seed, config)``. Cost is linear in epochs.
    """

    def __init__(self, space: ConfigurationSpace, budgets: Sequence[int] = (1, 3, 9, 27),
                 noise: float = 0.0, seconds_per_epoch: float = 1.0, name: str = "synthetic"):
        self.space = space
        self.budgets = [int(b) for b in budgets]
        self.noise = float(noise)
        self.seconds_per_epoch = float(seconds_per_epoch)
        self.name = name
        rng = np.random.default_rng(12345)
        self._centre = {n: float(rng.uniform(0.2, 0.8)) for n in space.keys()}
        self._penalty = {}
        for n in space.keys():
            hp = space[n]
            choices = getattr(hp, "choices", None) or getattr(hp, "sequence", None)
            if choices is not None and len(choices) > 1:
                pen = rng.uniform(0.0, 0.3, size=len(choices))
                pen[int(rng.integers(len(choices)))] = 0.0
                self._penalty[n] = {str(c): float(p) for c, p in zip(choices, pen)}

    def _unit(self, name: str, value: Any) -> float:
        hp = self.space[name]
        return float(hp.to_vector(value)) if hasattr(hp, "to_vector") else 0.5

    def _mean(self, config: Mapping[str, Any], budget: float) -> float:
        v = 0.05
        for name, value in config.items():
            if name not in self.space:
                raise UsageError(f"unknown hyperparameter {name!r}")
            if name in self._penalty:
                v += self._penalty[name].get(str(value), 0.0)
            elif not isinstance(value, (str, bool)):
                v += (self._unit(name, value) - self._centre[name]) ** 2
        return v + 0.3 / float(budget)

    def evaluate(self, config, budget, seed, *, mode="scratch", resume_from=None, curve=False) -> Result:
        self.check_call(budget, mode, resume_from)
        mean = self._mean(config, budget)
        from mfbench.space import config_id

        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(config_id(config), 16) & 0xFFFFFFFF, int(budget)])
        val = mean + (self.noise * float(rng.normal()) if self.noise else 0.0)
        epochs = budget - (resume_from or 0) if mode == "continue" else budget
        return Result(val_error=val, cost_seconds=epochs * self.seconds_per_epoch, cost_epochs=int(epochs),
                      metrics={"test_error": mean + 0.01})

    def true_value(self, config):
        m = self._mean(config, self.max_budget)
        return m, m + 0.01

    def full_budget_cost(self) -> float:
        return self.max_budget * self.seconds_per_epoch

    @property
    def optimum(self) -> dict[str, float]:
        best = 0.05 + 0.3 / self.max_budget
        return {"val_error": best, "test_error": best + 0.01}


def finite_or(value: float, default: float) -> float:
    return value if value is not None and math.isfinite(value) else default
