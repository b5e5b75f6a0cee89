"""Low-latency prediction of one row by several scikit-learn tree ensembles at once.

scikit-learn predicts large batches fast, but one row costs a Python-level call per tree
(forests) or per boosting iteration (HistGradientBoosting): about a millisecond per model.
A surrogate evaluation needs four models (val error, test error, noise, cost), so the single-
query path walks the trees of all of them together: every tree's node index in one array, one
vectorized step per tree level. The arrays come from the fitted estimators and predictions are
checked against ``estimator.predict`` in the tests. Batches still go through scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _unwrap(est: Any) -> Any:
    return est.steps[-1][1] if hasattr(est, "steps") and len(est.steps) == 1 else est


def packable(est: Any) -> bool:
    est = _unwrap(est)
    return hasattr(est, "estimators_") and hasattr(est.estimators_[0], "tree_") or hasattr(est, "_predictors")


class PackedTrees:
    """The trees of several fitted regressors (forests, extra trees, HistGradientBoosting)
    in flat arrays; ``predict_rows(X)`` gives one value per regressor and row."""

    def __init__(self, models: Mapping[str, Any]):
        self.names = list(models)
        feat, thr, left, right, value, roots, owner = [], [], [], [], [], [], []
        self.base = np.zeros(len(self.names))
        offset = 0
        self.depth = 1
        self.n_features = None
        for k, name in enumerate(self.names):
            est = _unwrap(models[name])
            trees = []
            if hasattr(est, "estimators_"):  # forest: mean of the trees, X compared as float32
                w = 1.0 / len(est.estimators_)
                for t in est.estimators_:
                    tr = t.tree_
                    is_leaf = tr.children_left < 0
                    f = np.where(is_leaf, 0, tr.feature)
                    trees.append((f, tr.threshold, tr.children_left, tr.children_right, tr.value[:, 0, 0] * w,
                                  is_leaf, True, int(tr.max_depth)))  # fmt: skip
                self.n_features = est.n_features_in_
            elif hasattr(est, "_predictors"):  # boosting: baseline + sum of the trees, float64
                if getattr(est, "_preprocessor", None) is not None or est.is_categorical_ is not None:
                    raise TypeError("categorical HistGradientBoosting cannot be packed")
                self.base[k] = float(np.ravel(est._baseline_prediction)[0])
                for it in est._predictors:
                    nodes = it[0].nodes
                    is_leaf = nodes["is_leaf"].astype(bool)
                    f = np.where(is_leaf, 0, nodes["feature_idx"])
                    trees.append((f, nodes["num_threshold"], nodes["left"].astype(np.int64),
                                  nodes["right"].astype(np.int64), nodes["value"], is_leaf, False,
                                  int(nodes["depth"].max())))  # fmt: skip
                self.n_features = est.n_features_in_
            else:
                raise TypeError(f"{type(est).__name__} cannot be packed")
            for f, th, lf, rg, val, is_leaf, f32, depth in trees:
                n = len(f)
                idx = np.arange(n)
                lf = np.where(is_leaf, idx, lf) + offset
                rg = np.where(is_leaf, idx, rg) + offset
                # float32 trees read the float32-rounded copy of the row, stored after the float64 one
                feat.append(f + (self.n_features if f32 else 0))
                thr.append(np.where(is_leaf, np.inf, th))
                left.append(lf)
                right.append(rg)
                value.append(np.where(is_leaf, val, 0.0))
                roots.append(offset)
                owner.append(k)
                offset += n
                self.depth = max(self.depth, depth)
        self.feat = np.concatenate(feat).astype(np.intp)
        self.thr = np.concatenate(thr).astype(np.float64)
        self.left = np.concatenate(left).astype(np.intp)
        self.right = np.concatenate(right).astype(np.intp)
        self.value = np.concatenate(value).astype(np.float64)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.owner = np.asarray(owner, dtype=np.intp)
        self.n_models = len(self.names)

    def predict_rows(self, X: np.ndarray) -> np.ndarray:
        """``(n_rows, n_models)`` predictions for a few rows (meant for 1-4)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        out = np.empty((X.shape[0], self.n_models))
        for r, x in enumerate(X):
            xx = np.concatenate([x, x.astype(np.float32).astype(np.float64)])
            node = self.roots
            for _ in range(self.depth):
                node = np.where(xx[self.feat[node]] <= self.thr[node], self.left[node], self.right[node])
            out[r] = self.base + np.bincount(self.owner, weights=self.value[node], minlength=self.n_models)
        return out
