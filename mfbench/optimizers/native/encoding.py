"""A numeric form of ConfigSpace configurations, shared by ``ga``, ``ga-mf`` and ``optiml``.

Built on ConfigSpace's own vector representation (``Hyperparameter.to_vector``: numericals in
[0, 1] on their log-aware scale, ordinals and categoricals as indices, an inactive
hyperparameter as NaN), so that no hand-written scaling can drift from the library's. On top of
it, what ConfigSpace 1.2 does not offer in vectorized form: canonical vectors (integers rounded
through their value, so one configuration has one vector), activity repair in topological
order, seeded vectorized sampling, per-type neighbour moves, and model features (one-hot
categoricals, ordinals scaled to [0, 1], inactive = -1). Decoding a vector is per
hyperparameter because ``dict(Configuration)`` costs about a millisecond per configuration.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from ConfigSpace import ConfigurationSpace
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    Constant,
    IntegerHyperparameter,
    NumericalHyperparameter,
    OrdinalHyperparameter,
)

from mfbench.core.errors import UsageError
from mfbench.training.space import native, to_config

CONSTANT, FLOAT, INTEGER, ORDINAL, CATEGORICAL = "constant", "float", "integer", "ordinal", "categorical"


def make_rng(seed: int, purpose: str) -> np.random.Generator:
    """A generator seeded by (run seed, purpose); crc32, unlike ``hash``, is the same in
    every process."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(purpose.encode())])


def legacy_rng(rng: np.random.Generator) -> np.random.RandomState:
    """ConfigSpace's samplers take a ``RandomState``: derive one from our generator."""
    return np.random.RandomState(int(rng.integers(2**32 - 1)))


def _reflect(v: float) -> float:
    v = abs(v) % 2.0
    return 2.0 - v if v > 1.0 else v


class VectorCodec:
    """Vector form of the configurations of one space (index j = ``space.index_of``)."""

    def __init__(self, space: ConfigurationSpace):
        self.space = space
        self.names = list(space.keys())
        if any(space.index_of[n] != j for j, n in enumerate(self.names)):
            raise UsageError(f"space {space.name!r}: hyperparameter order differs from its vector order")
        self.hps = [space[n] for n in self.names]
        self.kinds: list[str] = []
        self.sizes: list[int] = []
        for hp in self.hps:
            if isinstance(hp, Constant):
                self.kinds.append(CONSTANT)
                self.sizes.append(1)
            elif isinstance(hp, CategoricalHyperparameter):
                self.kinds.append(CATEGORICAL)
                self.sizes.append(len(hp.choices))
            elif isinstance(hp, OrdinalHyperparameter):
                self.kinds.append(ORDINAL)
                self.sizes.append(len(hp.sequence))
            elif isinstance(hp, IntegerHyperparameter):
                self.kinds.append(INTEGER)
                self.sizes.append(int(hp.upper) - int(hp.lower) + 1)
            elif isinstance(hp, NumericalHyperparameter):
                self.kinds.append(FLOAT)
                self.sizes.append(0)
            else:
                raise UsageError(f"unsupported hyperparameter type {type(hp).__name__} ({hp.name})")
        self.dim = len(self.names)
        # conditional hyperparameters in topological (= vector) order, with their conditions
        self.conditional = [
            (j, list(space.parent_conditions_of[n])) for j, n in enumerate(self.names) if space.parent_conditions_of[n]
        ]
        self.unconditional = [j for j, n in enumerate(self.names) if not space.parent_conditions_of[n]]
        self.has_forbiddens = bool(space.forbidden_clauses)
        self.variable = [j for j, k in enumerate(self.kinds) if k != CONSTANT and self.sizes[j] != 1]
        self.n_features = sum(self.sizes[j] if self.kinds[j] == CATEGORICAL else 1 for j in self.variable)

    # ---------------------------------------------------------------- values <-> vectors
    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        vec = np.full(self.dim, np.nan)
        for name, value in config.items():
            j = self.space.index_of[name]
            hp = self.hps[j]
            vec[j] = float(hp.to_vector(hp.value if self.kinds[j] == CONSTANT else value))
        return vec

    def decode(self, vec: np.ndarray) -> dict[str, Any]:
        """The configuration as sorted Python natives (exactly its non-NaN entries)."""
        return to_config(
            {n: native(hp.to_value(float(v))) for n, hp, v in zip(self.names, self.hps, vec) if not np.isnan(v)}
        )

    def canonical_column(self, j: int, values: np.ndarray) -> np.ndarray:
        """Integers through their value (a vector between two integers is not canonical)."""
        if self.kinds[j] != INTEGER:
            return values
        out = np.array(values, dtype=float)
        ok = ~np.isnan(out)
        if ok.any():
            hp = self.hps[j]
            out[ok] = hp.to_vector(hp.to_value(out[ok]))
        return out

    @staticmethod
    def _rounded(v: np.ndarray) -> np.ndarray:
        """What a key is made of: inactive (NaN) as -1, every value rounded to 9 decimals."""
        return np.round(np.where(np.isnan(v), -1.0, v), 9)

    @staticmethod
    def key(vec: np.ndarray) -> bytes:
        """A hashable identity of a canonical vector (for cheap duplicate checks)."""
        return VectorCodec._rounded(vec).tobytes()

    @staticmethod
    def keys(vectors: np.ndarray) -> list[bytes]:
        """``key`` of each row of a float64 matrix, rounded in one pass (the same bytes)."""
        return [row.tobytes() for row in VectorCodec._rounded(np.asarray(vectors, dtype=float))]

    # ---------------------------------------------------------------- activity
    def repair(self, vec: np.ndarray, fill: Callable[[int], float]) -> np.ndarray:
        """Make exactly the active hyperparameters have values: a newly active one gets
        ``fill(j)``, an inactive one is cleared; parents come before children in the vector."""
        # on a list of Python floats (x != x: NaN), which ConfigSpace's conditions index like the
        # array: the same values at a fraction of numpy's per-element cost (optiml repairs a few
        # hundred neighbours per ask)
        v = np.array(vec, dtype=float).tolist()
        for j in self.unconditional:
            if v[j] != v[j]:
                v[j] = fill(j)
        for j, conds in self.conditional:
            if all(c.satisfied_by_vector(v) for c in conds):
                if v[j] != v[j]:
                    v[j] = fill(j)
            else:
                v[j] = math.nan
        return np.array(v, dtype=float)

    def is_allowed(self, vec: np.ndarray) -> bool:
        """False for a vector that a forbidden clause excludes (our spaces have none)."""
        if not self.has_forbiddens:
            return True
        try:
            self.space.check_configuration_vector_representation(vec)
        except Exception:  # ConfigSpace raises ForbiddenValueError and friends
            return False
        return True

    def prior_value(self, j: int, rs: np.random.RandomState) -> float:
        """One prior draw of hyperparameter ``j`` (ConfigSpace samplers take a RandomState)."""
        return float(self.canonical_column(j, np.atleast_1d(self.hps[j].sample_vector(size=1, seed=rs)))[0])

    # ---------------------------------------------------------------- sampling
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` canonical vectors from the space's prior, conditions applied (vectorized)."""
        rs = legacy_rng(rng)
        out = np.empty((n, self.dim))
        for j, hp in enumerate(self.hps):
            out[:, j] = self.canonical_column(j, np.asarray(hp.sample_vector(size=n, seed=rs), dtype=float))
        for j, conds in self.conditional:
            ok = np.ones(n, dtype=bool)
            for c in conds:
                ok &= np.asarray(c.satisfied_by_vector_array(out.T), dtype=bool)
            out[~ok, j] = np.nan
        if self.has_forbiddens:
            out = out[[self.is_allowed(v) for v in out]]
        return out

    # ---------------------------------------------------------------- variation
    def n_mutable(self, vec: np.ndarray) -> int:
        return sum(1 for j in self.variable if not np.isnan(vec[j]))

    def move(self, j: int, value: float, rng: np.random.Generator, sigma: float) -> float:
        """One neighbour step of hyperparameter ``j``: a Gaussian step on the normalized
        (log-aware) scale for numericals (log-normal on the value for log ones), reflected at
        the bounds; an integer that rounds back to itself moves to the adjacent integer; +-1
        index for ordinals; a different category, uniformly, for categoricals."""
        kind, size = self.kinds[j], self.sizes[j]
        if kind == FLOAT:
            return _reflect(value + sigma * float(rng.normal()))
        if kind == INTEGER:
            step = sigma * float(rng.normal())
            new = float(self.canonical_column(j, np.array([_reflect(value + step)]))[0])
            if new == value:
                hp = self.hps[j]
                cur = int(hp.to_value(value))
                target = cur + (1 if step >= 0 else -1)
                if not int(hp.lower) <= target <= int(hp.upper):
                    target = cur - (1 if step >= 0 else -1)
                new = float(hp.to_vector(target))
            return new
        if kind == ORDINAL:
            idx = int(round(value))
            if idx == 0:
                return 1.0
            if idx == size - 1:
                return float(size - 2)
            return float(idx + (1 if rng.random() < 0.5 else -1))
        if kind == CATEGORICAL:
            others = [i for i in range(size) if i != int(round(value))]
            return float(others[int(rng.integers(len(others)))])
        return value

    def mutate(
        self, vec: np.ndarray, rng: np.random.Generator, rate: float | None, sigma: float, at_least_one: bool = False
    ) -> np.ndarray:
        """Move each active, non-constant hyperparameter with probability ``rate`` (default
        1 / their number). The result may need ``repair`` (a parent may have changed)."""
        vec = np.array(vec, dtype=float)
        values = vec.tolist()
        active = [j for j in self.variable if values[j] == values[j]]  # not NaN
        if not active:
            return vec
        p = (1.0 / len(active)) if rate is None else float(rate)
        hits = [j for j, u in zip(active, rng.random(len(active)).tolist(), strict=True) if u < p]  # one draw each
        if at_least_one and not hits:
            hits = [active[int(rng.integers(len(active)))]]
        for j in hits:
            vec[j] = self.move(j, vec[j], rng, sigma)
        return vec

    # ---------------------------------------------------------------- model features
    def features(self, vectors: np.ndarray) -> np.ndarray:
        """Features for a regression model: numericals as their [0, 1] vector, ordinals as
        index / (size - 1), categoricals one-hot; inactive = -1 (all-zero for one-hot);
        constants dropped."""
        V = np.atleast_2d(np.asarray(vectors, dtype=float))
        cols = []
        for j in self.variable:
            col = V[:, j]
            kind = self.kinds[j]
            if kind == CATEGORICAL:
                cols.append((col[:, None] == np.arange(self.sizes[j])[None, :]).astype(float))
                continue
            if kind == ORDINAL:
                col = col / max(self.sizes[j] - 1, 1)
            cols.append(np.where(np.isnan(col), -1.0, col)[:, None])
        if not cols:
            return np.zeros((V.shape[0], 0))
        return np.hstack(cols)
