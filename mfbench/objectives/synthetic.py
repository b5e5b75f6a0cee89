"""A cheap synthetic objective over any space: the synthetic benchmarks of ``replay`` and the
optimizer tests run on it (no table, no model, no training)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np
from ConfigSpace import ConfigurationSpace

from mfbench.core.errors import UsageError
from mfbench.core.types import Result
from mfbench.objectives.base import Objective


class SyntheticObjective(Objective):
    """A cheap multi-fidelity function over any ConfigSpace space, for tests of optimizers.

    Each active numerical hyperparameter contributes a smooth bowl around a fixed optimum (in
    the normalized, log-aware coordinates), each categorical a fixed penalty per value; the
    value at budget ``b`` approaches the full-budget value as ``b`` grows (``+ c / b``), and
    the observation noise is Gaussian, seeded by ``(seed, config)``. Cost is linear in epochs.
    """

    def __init__(
        self,
        space: ConfigurationSpace,
        budgets: Sequence[int] = (1, 3, 9, 27),
        noise: float = 0.0,
        seconds_per_epoch: float = 1.0,
        name: str = "synthetic",
    ):
        self.space = space
        self.budgets = [int(b) for b in budgets]
        self.noise = float(noise)
        self.deterministic = self.noise == 0.0
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
        from mfbench.training.space import config_id

        # a continued training is one training: one noise draw for all its rungs (as a table's seed)
        key = self.max_budget if mode == "continue" else int(budget)
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(config_id(config), 16) & 0xFFFFFFFF, key])
        val = mean + (self.noise * float(rng.normal()) if self.noise else 0.0)
        epochs = budget - (resume_from or 0) if mode == "continue" else budget
        return Result(
            val_error=val,
            cost_seconds=epochs * self.seconds_per_epoch,
            cost_epochs=int(epochs),
            metrics={"test_error": mean + 0.01},
            training_seed=int(seed),
        )

    def true_value(self, config):
        m = self._mean(config, self.max_budget)
        return m, m + 0.01

    def full_budget_cost(self) -> float:
        return self.max_budget * self.seconds_per_epoch

    @property
    def optimum(self) -> dict[str, float]:
        best = 0.05 + 0.3 / self.max_budget
        return {"val_error": best, "test_error": best + 0.01}


class SyntheticBenchmark(SyntheticObjective):
    """``SyntheticObjective`` with what a replay needs of a benchmark (kind, bounds, hash), so
    that tests and the bench need no table. ``worst`` is the worst noise-free value over the
    grid (discrete space) or over 500 configs sampled with a fixed seed (continuous)."""

    kind = "synthetic"

    def __init__(self, space_name: str, name: str, noise: float = 0.02):
        from mfbench.training.space import get_space

        super().__init__(get_space(space_name), (1, 3, 9, 27), noise=noise, seconds_per_epoch=1.0, name=name)
        self.space_name = space_name

    @cached_property
    def bounds(self) -> dict[str, float]:
        from mfbench.training.space import get_space, iter_grid

        if self.space_name == "cnn-grid":
            configs = list(iter_grid(self.space))
        else:
            configs = [dict(c) for c in get_space(self.space_name, seed=0).sample_configuration(500)]
        worst = max(self.true_value(c)[0] for c in configs)
        return {"best": self.optimum["val_error"], "worst": float(worst)}

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "space": self.space_name,
            "noise": self.noise,
            "hash": f"synthetic-{self.space_name}-noise{self.noise}",
        }


#: the synthetic benchmarks replay knows by name -> the space each is defined on
SYNTHETIC = {"synthetic-cnn": "cnn", "synthetic-grid": "cnn-grid"}
