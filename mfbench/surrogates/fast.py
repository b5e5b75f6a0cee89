"""Fast prediction by several scikit-learn tree ensembles at once.

A surrogate evaluation needs four models (val error, test error, noise, cost). scikit-learn
pays a Python-level call per tree (forests) or per boosting iteration for every query, about a
millisecond per model for one row, and walks a whole batch once per tree for many rows (about
90,000 rows/s per boosted model of 300 trees on one core). Two paths replace it:

- ``BitvectorTrees`` (compiled with numba; trees of at most 64 leaves, which is every boosting
  candidate of ``model.FAMILIES``): the QuickScorer evaluation of Lucchese et al. (SIGIR
  2015), per tree a 64-bit mask of the leaves still reachable, over blocks of rows; the sum
  over trees runs in scikit-learn's order, so its predictions are scikit-learn's bits.
- ``PackedTrees`` (numpy, any tree size): every tree's node index in one array, one vectorized
  step per tree level; for a few rows when numba is missing or a forest's trees are deep. It
  sums the trees in the same order as ``BitvectorTrees``, so where both apply they give the
  same bits: numba (the ``fast`` extra) changes the speed of a batch, never a result.

Both read the arrays of the fitted estimators, and the tests check them against
``estimator.predict``. Feature rows never hold NaN (the encoder writes ``INACTIVE``), so
neither implements scikit-learn's missing-value branch; ``BitvectorTrees`` refuses NaN.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

#: the most leaves a tree may have to fit one 64-bit mask
MAX_LEAVES = 64
#: a batch is split over threads only in parts of at least this many rows
MIN_ROWS_PER_THREAD = 4096


def _unwrap(est: Any) -> Any:
    return est.steps[-1][1] if hasattr(est, "steps") and len(est.steps) == 1 else est


def packable(est: Any) -> bool:
    est = _unwrap(est)
    return hasattr(est, "estimators_") and hasattr(est.estimators_[0], "tree_") or hasattr(est, "_predictors")


class _Tree:
    """One tree as arrays: ``left``/``right`` < 0 at leaves, ``value`` already weighted."""

    __slots__ = ("feature", "threshold", "left", "right", "value", "f32", "depth")

    def __init__(self, feature, threshold, left, right, value, f32, depth):
        self.feature, self.threshold, self.left, self.right = feature, threshold, left, right
        self.value, self.f32, self.depth = value, f32, int(depth)

    @property
    def is_leaf(self) -> np.ndarray:
        return self.left < 0

    def leaves_in_order(self) -> tuple[list[int], dict[int, list[int]]]:
        """Leaves from left to right, and the leaves under each internal node's left child."""
        order: list[int] = []
        under: dict[int, list[int]] = {}
        stack = [(0, False)]
        spans: dict[int, tuple[int, int]] = {}
        while stack:  # iterative in-order walk recording each node's span of leaves
            node, done = stack.pop()
            if self.left[node] < 0:
                spans[node] = (len(order), len(order) + 1)
                order.append(node)
            elif not done:
                stack += [(node, True), (self.right[node], False), (self.left[node], False)]
            else:
                a, b = spans[self.left[node]]
                spans[node] = (a, spans[self.right[node]][1])
                under[node] = order[a:b]
        return order, under


def _trees(est: Any) -> tuple[float, int, list[_Tree]]:
    """``(baseline, n_features, trees)`` of a forest (mean of its trees; it compares the row
    rounded to float32) or a HistGradientBoosting regressor (baseline + sum, float64)."""
    est = _unwrap(est)
    if hasattr(est, "estimators_"):
        w = 1.0 / len(est.estimators_)
        trees = []
        for t in est.estimators_:
            tr = t.tree_
            trees.append(
                _Tree(
                    tr.feature,
                    tr.threshold,
                    tr.children_left,
                    tr.children_right,
                    tr.value[:, 0, 0] * w,
                    True,
                    tr.max_depth,
                )
            )
        return 0.0, int(est.n_features_in_), trees
    if hasattr(est, "_predictors"):
        if getattr(est, "_preprocessor", None) is not None or est.is_categorical_ is not None:
            raise TypeError("categorical HistGradientBoosting cannot be packed")
        trees = []
        for it in est._predictors:
            nodes = it[0].nodes
            leaf = nodes["is_leaf"].astype(bool)
            trees.append(
                _Tree(
                    nodes["feature_idx"],
                    nodes["num_threshold"],
                    np.where(leaf, -1, nodes["left"].astype(np.int64)),
                    np.where(leaf, -1, nodes["right"].astype(np.int64)),
                    nodes["value"],
                    False,
                    nodes["depth"].max(),
                )
            )
        return float(np.ravel(est._baseline_prediction)[0]), int(est.n_features_in_), trees
    raise TypeError(f"{type(est).__name__} cannot be packed")


def _all_trees(models: Mapping[str, Any]) -> Iterator[tuple[int, float, int, list[_Tree]]]:
    for k, name in enumerate(models):
        yield (k, *_trees(models[name]))


class PackedTrees:
    """The trees of several fitted regressors (forests, extra trees, HistGradientBoosting)
    in flat arrays; ``predict_rows(X)`` gives one value per regressor and row."""

    def __init__(self, models: Mapping[str, Any]):
        self.names = list(models)
        self.n_models = len(self.names)
        feat, thr, left, right, value, roots, owner = [], [], [], [], [], [], []
        self.base = np.zeros(self.n_models)
        offset = 0
        self.depth = 1
        for k, base, n_features, trees in _all_trees(models):
            self.base[k] = base
            self.n_features = n_features
            for tr in trees:
                n = len(tr.left)
                idx = np.arange(n)
                leaf = tr.is_leaf
                # float32 trees read the float32-rounded copy of the row, stored after the float64 one
                feat.append(np.where(leaf, 0, tr.feature) + (n_features if tr.f32 else 0))
                thr.append(np.where(leaf, np.inf, tr.threshold))
                left.append(np.where(leaf, idx, tr.left) + offset)  # a leaf is its own child
                right.append(np.where(leaf, idx, tr.right) + offset)
                value.append(np.where(leaf, tr.value, 0.0))
                roots.append(offset)
                owner.append(k)
                offset += n
                self.depth = max(self.depth, tr.depth)
        self.feat = np.concatenate(feat).astype(np.intp)
        self.thr = np.concatenate(thr).astype(np.float64)
        self.left = np.concatenate(left).astype(np.intp)
        self.right = np.concatenate(right).astype(np.intp)
        self.value = np.concatenate(value).astype(np.float64)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.owner = np.asarray(owner, dtype=np.intp)
        # each model's trees are contiguous (models are packed one after the other)
        bounds = np.searchsorted(self.owner, np.arange(self.n_models + 1))
        self._spans = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))

    def predict_rows(self, X: np.ndarray) -> np.ndarray:
        """``(n_rows, n_models)`` predictions for a few rows (meant for 1-4)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        out = np.empty((X.shape[0], self.n_models))
        for r, x in enumerate(X):
            xx = np.concatenate([x, x.astype(np.float32).astype(np.float64)])
            node = self.roots
            for _ in range(self.depth):
                node = np.where(xx[self.feat[node]] <= self.thr[node], self.left[node], self.right[node])
            leaves = self.value[node]
            for k, (a, b) in enumerate(self._spans):
                # a running sum from the baseline, tree after tree: scikit-learn's (and the compiled
                # kernel's) order, so a machine without numba gets the same bits (a pairwise or
                # bincount sum differs in the last digits, and a tie between configurations may flip)
                out[r, k] = np.add.accumulate(np.concatenate(([self.base[k]], leaves[a:b])))[-1]
        return out


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:  # the `fast` extra is not installed: PackedTrees answers, with the same bits
        return False
    return True


def bitvector_packable(est: Any) -> bool:
    """Whether every tree of ``est`` fits a 64-bit leaf mask (and numba is there to run it)."""
    if not packable(est) or not numba_available():
        return False
    try:
        _, _, trees = _trees(est)
    except TypeError:
        return False
    return all(int(tr.is_leaf.sum()) <= MAX_LEAVES for tr in trees)


class BitvectorTrees:
    """Several regressors' trees of at most 64 leaves, predicted by one compiled pass;
    ``predict(X, threads)`` gives ``(n_rows, n_models)``, equal to scikit-learn's bits."""

    def __init__(self, models: Mapping[str, Any]):
        self.names = list(models)
        self.n_models = len(self.names)
        feat, f32, thr, mask = [], [], [], []
        node_start, leaf_start, leaf_value, owner = [0], [], [], []
        self.base = np.zeros(self.n_models)
        self.n_features = 0
        for k, base, n_features, trees in _all_trees(models):
            self.base[k] = base
            self.n_features = n_features
            for tr in trees:
                order, under = tr.leaves_in_order()
                if len(order) > MAX_LEAVES:
                    raise TypeError(f"a tree of {self.names[k]} has {len(order)} leaves (at most {MAX_LEAVES})")
                bit = {leaf: j for j, leaf in enumerate(order)}
                for node, left_leaves in sorted(under.items()):
                    m = (1 << 64) - 1
                    for leaf in left_leaves:
                        m &= ~(1 << bit[leaf])
                    feat.append(int(tr.feature[node]))
                    f32.append(tr.f32)
                    thr.append(float(tr.threshold[node]))
                    mask.append(m)
                node_start.append(len(feat))
                leaf_start.append(len(leaf_value))
                leaf_value.extend(np.asarray(tr.value, dtype=np.float64)[order].tolist())
                owner.append(k)
        self.any_f32 = any(f32)
        self._arrays = (
            np.asarray(feat, np.int64),
            np.asarray(f32, np.bool_),
            np.asarray(thr, np.float64),
            np.asarray(mask, np.uint64),
            np.asarray(node_start, np.int64),
            np.asarray(leaf_start, np.int64),
            np.asarray(leaf_value, np.float64),
            np.asarray(owner, np.int64),
            self.base,
        )

    def predict(self, X: np.ndarray, threads: int | None = None) -> np.ndarray:
        """``(n_rows, n_models)``; a large batch is split over ``threads`` (None: every core)
        in contiguous parts, each run by the kernel without the GIL."""
        from mfbench.surrogates import _bitvector

        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} features, the trees were fitted on {self.n_features}")
        if np.isnan(X).any():
            raise ValueError("feature rows hold NaN: the packed trees do not implement missing values")
        XT = np.ascontiguousarray(X.T)
        X32T = XT.astype(np.float32).astype(np.float64) if self.any_f32 else XT
        out = np.empty((X.shape[0], self.n_models))
        n = X.shape[0]
        parts = max(1, min(threads or os.cpu_count() or 1, n // MIN_ROWS_PER_THREAD))
        if parts == 1:
            _bitvector.predict(XT, X32T, *self._arrays, out)
            return out
        cuts = np.linspace(0, n, parts + 1).astype(int)

        def run(a: int, b: int) -> None:
            _bitvector.predict(XT[:, a:b].copy(), X32T[:, a:b].copy(), *self._arrays, out[a:b])

        with ThreadPoolExecutor(parts) as pool:
            list(pool.map(run, cuts[:-1], cuts[1:]))
        return out
