"""Grid search: every point of the benchmark's grid, in an order shuffled by the run seed.

On a discrete space (constants, categoricals, ordinals: the exact tabular benchmark) the
grid is the space itself, the same points as :func:`mfbench.training.space.iter_grid`. On a space
with numerical hyperparameters each of those is discretized to ``points_per_numeric``
values at the centres of equal-width bins of its range (in log space for log ranges; an
integer ``i`` owns ``[i - 0.5, i + 0.5]``, and an integer range with no more values than
that is taken whole), so that no grid point sits on a range's extreme edge; ``settings()``
lists which axes were discretized.

The order is a seeded permutation of the mixed-radix index space of all axes. A point whose
inactive hyperparameters do not all hold their first axis value is skipped, so that every
distinct valid configuration is proposed exactly once per pass. Index spaces up to
``MATERIALIZE_LIMIT`` are permuted with numpy; larger ones (the discretized ``cnn`` space has
tens of millions of indices) through a seeded Feistel bijection, which needs no memory.

When a pass is exhausted (a long budget on a small grid), the default ``on_exhausted=
"reshuffle"`` starts a new pass in a new seeded order: on a noisy objective a repeat is a new
observation; ``settings()["passes"]`` says how many passes were started. ``on_exhausted=
"error"`` raises ``RuntimeError`` instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from ConfigSpace import ConfigurationSpace, Constant
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    FloatHyperparameter,
    IntegerHyperparameter,
    OrdinalHyperparameter,
)
from ConfigSpace.types import NotSet

from mfbench.core.errors import SearchExhausted, UsageError
from mfbench.core.seeds import finalize64
from mfbench.core.types import Capabilities, Result, Trial
from mfbench.optimizers.base import Optimizer
from mfbench.training.space import native, to_config, validate_config

#: Index spaces up to this size are shuffled with ``numpy.random.Generator.permutation``.
MATERIALIZE_LIMIT = 1 << 20


def _mix(x: int, key: int) -> int:
    """splitmix64's output function of ``x ^ key``: the Feistel round function."""
    return finalize64(x ^ key)


class FeistelPermutation:
    """A seeded bijection of ``range(n)`` evaluated one index at a time (cycle walking on a
    balanced Feistel network over the next even power of two)."""

    def __init__(self, n: int, rng: np.random.Generator, rounds: int = 6):
        if n < 1:
            raise ValueError("n must be positive")
        self.n = int(n)
        bits = max(2, (self.n - 1).bit_length())
        bits += bits % 2
        self._half = bits // 2
        self._mask = (1 << self._half) - 1
        self._keys = [int(k) for k in rng.integers(0, 2**63, size=rounds)]

    def _encrypt(self, x: int) -> int:
        left, right = x >> self._half, x & self._mask
        for key in self._keys:
            left, right = right, left ^ (_mix(right, key) & self._mask)
        return (left << self._half) | right

    def __getitem__(self, i: int) -> int:
        x = int(i)
        while True:  # cycle walking: stays a bijection of range(n)
            x = self._encrypt(x)
            if x < self.n:
                return x

    def __len__(self) -> int:
        return self.n


def axis_values(hp: Any, points_per_numeric: int) -> tuple[list[Any], bool]:
    """The grid values of one hyperparameter (as ConfigSpace stores them) and whether the
    axis was discretized from a numerical range."""
    if isinstance(hp, Constant):
        return [hp.value], False
    if isinstance(hp, CategoricalHyperparameter):
        return list(hp.choices), False
    if isinstance(hp, OrdinalHyperparameter):
        return list(hp.sequence), False
    if isinstance(hp, (IntegerHyperparameter, FloatHyperparameter)):
        lo, hi = float(hp.lower), float(hp.upper)
        is_int = isinstance(hp, IntegerHyperparameter)
        if is_int and hi - lo + 1 <= points_per_numeric:
            return list(range(int(lo), int(hi) + 1)), True
        if is_int:  # equal-width bins of the integers, each integer owning [i - 0.5, i + 0.5]
            lo, hi = lo - 0.5, hi + 0.5
        units = (np.arange(points_per_numeric) + 0.5) / points_per_numeric
        if hp.log:
            centres = np.exp(np.log(lo) + units * (np.log(hi) - np.log(lo)))
        else:
            centres = lo + units * (hi - lo)
        values: list[Any] = []
        for c in centres:
            if is_int:
                v: Any = int(min(max(math.floor(c + 0.5), hp.lower), hp.upper))
            else:  # 6 significant digits: readable grid values, still inside the range
                v = min(max(float(f"{c:.6g}"), float(hp.lower)), float(hp.upper))
            if v not in values:
                values.append(v)
        return values, True
    raise UsageError(f"grid search cannot discretize {hp.name!r} of type {type(hp).__name__}")


class GridSearch(Optimizer):
    name = "grid"
    capabilities = Capabilities(multi_fidelity=False, continuation=False)
    on_crash = "nothing: grid search learns nothing"

    def __init__(
        self,
        space: ConfigurationSpace,
        budgets: Sequence[int],
        seed: int,
        points_per_numeric: int = 3,
        on_exhausted: str = "reshuffle",
        **options: Any,
    ):
        super().__init__(space, budgets, seed, **options)
        if on_exhausted not in ("reshuffle", "error"):
            raise UsageError(f"grid: on_exhausted must be 'reshuffle' or 'error', got {on_exhausted!r}")
        if int(points_per_numeric) < 1:
            raise UsageError("grid: points_per_numeric must be at least 1")
        self.points_per_numeric = int(points_per_numeric)
        self.on_exhausted = on_exhausted
        self._names = list(space.keys())
        self._axes: list[list[Any]] = []
        self._discretized: list[str] = []
        for name in self._names:
            vals, disc = axis_values(space[name], self.points_per_numeric)
            self._axes.append(vals)
            if disc:
                self._discretized.append(name)
        self._radix = [len(a) for a in self._axes]
        self.index_space = math.prod(self._radix)
        self._parent_conditions = [list(space.parent_conditions_of.get(n, [])) for n in self._names]
        self._has_forbiddens = bool(space.forbidden_clauses)
        self._pass = -1
        self._pos = 0
        self._yielded_in_pass = 0
        self._perm: Any = None
        self._new_pass()

    def _new_pass(self) -> None:
        self._pass += 1
        self._pos = 0
        self._yielded_in_pass = 0
        rng = np.random.default_rng([self.seed, 0x6752_4944, self._pass])  # (seed, "grid", pass)
        if self.index_space <= MATERIALIZE_LIMIT:
            self._perm = rng.permutation(self.index_space)
        else:
            self._perm = FeistelPermutation(self.index_space, rng)

    def _point(self, index: int) -> dict[str, Any] | None:
        """The configuration at a mixed-radix index, or None when the index is not the
        canonical representative of its configuration (or is forbidden)."""
        digits = [0] * len(self._names)
        for k in range(len(self._names) - 1, -1, -1):
            index, digits[k] = divmod(index, self._radix[k])
        values: dict[str, Any] = {}
        for k, name in enumerate(self._names):  # keys() is topological: parents first
            if all(c.satisfied_by_value(values) for c in self._parent_conditions[k]):
                values[name] = self._axes[k][digits[k]]
            elif digits[k] != 0:
                return None
            else:
                values[name] = NotSet
        cfg = to_config({n: v for n, v in values.items() if v is not NotSet})
        if self._has_forbiddens:
            try:
                validate_config(self.space, cfg)
            except UsageError:  # a forbidden combination is simply not a grid point
                return None
        return cfg

    def ask(self) -> Trial:
        while True:
            if self._pos >= self.index_space:
                if self._yielded_in_pass == 0:
                    raise RuntimeError("grid: the space has no valid grid point")
                if self.on_exhausted == "error":
                    raise SearchExhausted(f"grid: all points of the grid were proposed ({self._yielded_in_pass})")
                self._new_pass()
            index = int(self._perm[self._pos])
            self._pos += 1
            cfg = self._point(index)
            if cfg is not None:
                self._yielded_in_pass += 1
                return Trial(config=cfg, budget=self.max_budget, mode="scratch", info={"pass": self._pass})

    def tell(self, trial: Trial, result: Result) -> None:
        pass  # the order is fixed in advance: nothing to learn

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "points_per_numeric": self.points_per_numeric,
            "numeric_spacing": "centres of equal-width bins of the range (log-aware; integers own i +- 0.5)",
            "discretized": list(self._discretized),
            "axes": {n: [native(v) for v in a] for n, a in zip(self._names, self._axes)},
            "index_space": self.index_space,
            "permutation": "numpy" if self.index_space <= MATERIALIZE_LIMIT else "feistel",
            "on_exhausted": self.on_exhausted,
            "passes": self._pass + 1,
            "budget": "max rung, from scratch",
        }
