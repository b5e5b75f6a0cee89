"""The bootstrap regression forest of ``optiml``, tree for tree the one scikit-learn grows.

``optiml`` refits a 50-tree ``RandomForestRegressor`` on every tell, on a few dozen to a few
hundred rows. At that size scikit-learn's per-tree Python work (cloning the estimator,
``get_params`` through ``inspect``, input validation, joblib's dispatch) and two fresh
``RandomState`` per tree (each seeds a new ``MT19937`` from the operating system first) cost
more than growing the trees. :class:`ForestFitter` does what ``RandomForestRegressor(bootstrap=
True, n_jobs=1, ...).fit`` does for this one setting — the same seed per tree (one
``randint(2**31 - 1)`` per tree from ``RandomState(random_state)``), the same bootstrap counts as
sample weights, the same ``BestSplitter`` / ``MSE`` / ``DepthFirstTreeBuilder`` with the same
arguments — and calls scikit-learn's own compiled tree builder directly, so the trees are the
same bit for bit (``tests/test_optiml_forest.py`` compares every node array with
``RandomForestRegressor``'s). On 30–200 rows it takes 0.12–0.34 of the forest's CPU time.

The builder classes are private to scikit-learn; their signatures are those of the pinned
version (``pyproject.toml``). The first fit in a process checks that the direct path
reproduces ``RandomForestRegressor`` on a small problem and otherwise uses the latter (same
trees, slower): a scikit-learn upgrade that changes them costs speed (the check covers one
small problem; the tests cover many).
"""

from __future__ import annotations

import functools
import logging

import numpy as np

log = logging.getLogger(__name__)

_MAX_INT = np.iinfo(np.int32).max


def _sklearn_forest(X: np.ndarray, y: np.ndarray, n_trees: int, max_features: float, min_samples_leaf: int, seed: int):
    from sklearn.ensemble import RandomForestRegressor

    model = RandomForestRegressor(
        n_estimators=n_trees,
        max_features=max_features,
        min_samples_leaf=min_samples_leaf,
        bootstrap=True,
        random_state=seed,
        n_jobs=1,
    ).fit(X, y)
    return [t.tree_ for t in model.estimators_]


_RAND_R_MAX = 2147483647  # sklearn.tree._utils.RAND_R_MAX: the splitter draws randint(0, RAND_R_MAX)


class _FirstDraw:
    """Stands in for a tree's ``RandomState`` inside ``BestSplitter``, which reads exactly one
    value from it (``randint(0, RAND_R_MAX)`` when the builder starts, seeding its own
    ``rand_r`` state) and nothing else."""

    def __init__(self, value: int):
        self.value = value

    def randint(self, low: int, high: int) -> int:
        assert (low, high) == (0, _RAND_R_MAX), (low, high)
        return self.value


class _TreeStream:
    """The raw 32-bit outputs of ``RandomState(seed)``, drawn once and extended on demand.

    A tree fit makes two fresh ``RandomState(seed)`` (the bootstrap's and the splitter's), and
    constructing one costs about as much as growing a small tree (it seeds a new ``MT19937``
    from the operating system before reseeding it). The seeds repeat at every refit, so the
    raw outputs are drawn once and the legacy bounded draws are replayed from them: numpy's
    ``randint(0, n)`` on ``RandomState`` (n ≤ 2**32) takes 32-bit outputs, masks each with the
    smallest all-ones mask ≥ n - 1 and rejects the values above n - 1. ``_direct_is_faithful``
    and ``tests/test_optiml_forest.py`` compare the result with ``RandomState`` itself."""

    def __init__(self, seed: int):
        self.seed = seed
        self.raw = np.empty(0, dtype=np.uint32)

    def _ensure(self, k: int) -> None:
        if len(self.raw) < k:
            k = max(k, 2 * len(self.raw), 1024)
            self.raw = np.random.RandomState(self.seed).randint(0, 2**32, size=k, dtype=np.uint32)

    def bounded(self, n: int, count: int) -> np.ndarray:
        """``RandomState(seed).randint(0, n, count)`` (int64)."""
        if n == 1:
            return np.zeros(count, dtype=np.int64)  # numpy draws nothing for a one-value range
        mask = (1 << int(n - 1).bit_length()) - 1
        k = 2 * count + 64
        while True:
            self._ensure(k)
            v = self.raw[:k] & np.uint32(mask)
            ok = v[v <= n - 1]
            if len(ok) >= count:
                return ok[:count].astype(np.int64)
            k *= 2


def _direct_forest(
    X: np.ndarray,
    y: np.ndarray,
    n_trees: int,
    max_features: float,
    min_samples_leaf: int,
    seed: int,
    streams: dict[int, _TreeStream] | None = None,
):
    """``RandomForestRegressor.fit`` (squared error, best splits, bootstrap, no depth or leaf
    limit, no pruning, no sample weights, no missing values) without its per-tree overhead.
    ``streams`` keeps the trees' random streams between refits with the same ``seed``."""
    from sklearn.tree._criterion import MSE
    from sklearn.tree._splitter import BestSplitter
    from sklearn.tree._tree import DepthFirstTreeBuilder, Tree

    X = np.asarray(X, dtype=np.float32)
    if not (np.isfinite(X).all() and np.isfinite(y).all()):  # the forest's checks refuse these: let it say so
        return _sklearn_forest(X, y, n_trees, max_features, min_samples_leaf, seed)
    X = np.asfortranarray(X)  # what the builder converts to
    y = np.ascontiguousarray(np.reshape(y, (-1, 1)), dtype=np.float64)
    n, d = X.shape
    n_features = max(1, int(max_features * d)) if max_features > 0.0 else 0
    min_samples_split = max(2, 2 * min_samples_leaf)
    outputs = np.array([1], dtype=np.intp)
    streams = {} if streams is None else streams
    forest_rng = np.random.RandomState(seed)
    trees = []
    for _ in range(n_trees):
        tree_seed = int(forest_rng.randint(_MAX_INT))  # _set_random_states: one draw per tree
        stream = streams.get(tree_seed) or streams.setdefault(tree_seed, _TreeStream(tree_seed))
        indices = stream.bounded(n, n).astype(np.int32)  # _generate_sample_indices
        weight = np.bincount(indices, minlength=n).astype(np.float64)
        first = int(stream.bounded(_RAND_R_MAX, 1)[0])  # a fresh RandomState(tree_seed)'s first draw
        splitter = BestSplitter(MSE(1, n), n_features, min_samples_leaf, 0.0, _FirstDraw(first), None)
        tree = Tree(d, outputs, 1)
        DepthFirstTreeBuilder(splitter, min_samples_split, min_samples_leaf, 0.0, _MAX_INT, 0.0).build(
            tree, X, y, weight, None
        )
        trees.append(tree)
    return trees


_ARRAYS = ("children_left", "children_right", "feature", "threshold", "value", "impurity", "n_node_samples")


def same_trees(a: list, b: list) -> bool:
    """Whether two lists of fitted ``Tree`` objects have identical node arrays."""
    return len(a) == len(b) and all(
        np.array_equal(getattr(s, k), getattr(t, k)) for s, t in zip(a, b, strict=True) for k in _ARRAYS
    )


@functools.cache
def _direct_is_faithful() -> bool:
    """Whether the direct builder reproduces ``RandomForestRegressor`` here (checked once)."""
    rng = np.random.default_rng(0)
    X = rng.random((40, 7))
    X[:, 3] = np.round(X[:, 3])  # ties, as one-hot and ordinal features have
    y = rng.random(40)
    try:
        streams: dict[int, _TreeStream] = {}
        ok = all(  # twice with one cache: the replayed streams too
            same_trees(
                _direct_forest(X[:n], y[:n], 5, 0.8, 1, 123, streams), _sklearn_forest(X[:n], y[:n], 5, 0.8, 1, 123)
            )
            for n in (40, 17)
        )
    except Exception as exc:  # a changed private signature: fall back, say why once
        log.debug("optiml forest: the direct tree builder is unusable (%s); using RandomForestRegressor", exc)
        return False
    if not ok:
        log.debug("optiml forest: the direct tree builder differs from RandomForestRegressor; using the latter")
    return ok


class ForestFitter:
    """Fits ``RandomForestRegressor(n_estimators=n_trees, max_features=max_features,
    min_samples_leaf=min_samples_leaf, bootstrap=True, random_state=seed, n_jobs=1)`` again and
    again (``optiml`` refits on every tell); ``fit`` returns the fitted trees
    (``sklearn.tree._tree.Tree``), in order, the same as that forest's ``estimators_[i].tree_``."""

    def __init__(self, *, n_trees: int, max_features: float, min_samples_leaf: int, seed: int):
        self.n_trees, self.max_features, self.min_samples_leaf, self.seed = (
            int(n_trees),
            float(max_features),
            int(min_samples_leaf),
            int(seed),
        )
        self._streams: dict[int, _TreeStream] = {}

    def fit(self, X: np.ndarray, y: np.ndarray) -> list:
        args = (X, y, self.n_trees, self.max_features, self.min_samples_leaf, self.seed)
        if _direct_is_faithful():
            return _direct_forest(*args, streams=self._streams)
        return _sklearn_forest(*args)
