"""The one seed hash of mfbench (splitmix64) and every derivation made from it.

Python's ``hash()`` is salted per process and numpy's generators are costly to build per
query, so every stable draw is a splitmix64 hash of integer parts: which recorded seed a
tabular query reads, a surrogate's noise draw, the noise seed of each evaluation of a run,
the round function of the grid's seeded permutation. The constants are Vigna's
``splitmix64.c``; changing any of them changes every trajectory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15  # the increment of the splitmix64 generator
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB
_GOLDEN_U64, _MUL1_U64, _MUL2_U64 = np.uint64(GOLDEN), np.uint64(_MUL1), np.uint64(_MUL2)


def finalize64(z: int) -> int:
    """splitmix64's output function (the mixing without the increment) of a 64-bit int."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * _MUL1) & MASK64
    z = ((z ^ (z >> 27)) * _MUL2) & MASK64
    return z ^ (z >> 31)


def splitmix64(z: int) -> int:
    """One splitmix64 step of a 64-bit int: the output for state ``z``."""
    return finalize64(z + GOLDEN)


def _u64(x: Any) -> np.ndarray:
    if isinstance(x, (int, np.integer)) and not isinstance(x, np.ndarray):
        return np.atleast_1d(np.uint64(int(x) & MASK64))
    a = np.atleast_1d(np.asarray(x))
    if a.dtype == object:
        return np.array([int(v) & MASK64 for v in a], dtype=np.uint64)
    return a.astype(np.uint64)


def _splitmix_array(z: np.ndarray) -> np.ndarray:
    z = z + _GOLDEN_U64
    z = (z ^ (z >> np.uint64(30))) * _MUL1_U64
    z = (z ^ (z >> np.uint64(27))) * _MUL2_U64
    return z ^ (z >> np.uint64(31))


def mix64(*parts: Any) -> np.ndarray:
    """A stable 64-bit hash of integer columns (broadcast), the same in every process:
    ``h = splitmix64(h ^ part)`` over the parts, from ``h = 0``."""
    cols = np.broadcast_arrays(*(_u64(p) for p in parts))
    h = np.zeros(cols[0].shape, dtype=np.uint64)
    for c in cols:
        h = _splitmix_array(h ^ c)
    return h


def mix64_int(*parts: int) -> int:
    """``mix64`` of scalars in plain Python ints (a tenth of the cost of numpy for one value)."""
    h = 0
    for p in parts:
        h = splitmix64(h ^ (int(p) & MASK64))
    return h


def row_hash(X: np.ndarray) -> np.ndarray:
    """A stable 64-bit hash of each row of a float64 matrix (its bit patterns)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    bits = X.view(np.uint64)
    h = np.zeros(X.shape[0], dtype=np.uint64)
    for k in range(X.shape[1]):
        h = _splitmix_array(h ^ bits[:, k])
    return h


def row_hash_one(x: np.ndarray) -> int:
    """``row_hash`` of a single row, in plain Python ints (numpy's per-call overhead, once per
    column, would dominate a single surrogate query)."""
    return mix64_int(*np.ascontiguousarray(x, dtype=np.float64).reshape(-1).view(np.uint64).tolist())


def standard_normal(h: np.ndarray) -> np.ndarray:
    """N(0, 1) draws from hashes (inverse CDF of a 53-bit uniform)."""
    from scipy.special import ndtri

    u = ((h >> np.uint64(11)).astype(np.float64) + 0.5) * (2.0**-53)
    return ndtri(u)


def eval_seed(run_seed: int, index: int) -> int:
    """The objective's noise seed for the ``index``-th dispatched evaluation of run ``run_seed``:
    ``splitmix64(splitmix64(run_seed) ^ index) >> 32`` (= ``mix64_int(run_seed, index) >> 32``),
    a stable 32-bit hash, the same in every process."""
    return mix64_int(run_seed, index) >> 32


def eval_seeds(run_seed: int, start: int, n: int) -> list[int]:
    """``eval_seed(run_seed, i)`` for ``i`` in ``start .. start + n - 1``, vectorized."""
    return (mix64(run_seed, np.arange(start, start + n, dtype=np.uint64)) >> np.uint64(32)).tolist()
