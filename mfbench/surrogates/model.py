"""The surrogate model itself: the candidate model families, how the chosen ones are fitted to
a table's rows, and ``Surrogate``, the fitted set that answers predictions.

A surrogate is a set of scikit-learn regressors over the rows of ``surrogates.data``: one per
target (val error, test error, ...), one for the per-seed spread of the val error (the noise
model) and one for the log of the seconds per epoch (the cost model: cumulative seconds =
seconds per epoch x epochs, monotone by construction). Which family each target gets is decided
by ``surrogates.fit`` (grouped cross-validation); saving and loading is ``surrogates.store``.
This module imports neither, so both can build on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mfbench.core.errors import UsageError
from mfbench.surrogates.data import COST_TARGET, NOISE_TARGET, TARGET_FIELDS, TrainingData
from mfbench.surrogates.encoding import Encoder

#: candidates for every target; two complexities of boosting because the right one depends on how
#: densely the table covers its space (grid: 31 leaves win; 256 Sobol configs over 17
#: hyperparameters: 7 leaves and half the features per split, +0.06 within-budget Spearman); and
#: a Gaussian process per curve point (``surrogates.gp``), which generalizes best to configurations
#: unlike the training set
FAMILIES = ("extra_trees", "random_forest", "hist_gbm", "hist_gbm_small", "knn", "gp")


_CONTROLLER: Any = None
PREDICT_CHUNK = 16_384


def limit_threads(n: int | None, user_api: str = "openmp") -> Any:
    """Cap OpenMP threads (HistGradientBoosting): on a busy machine its spinning threads run
    tens of times slower than one thread. ``None`` leaves the library default. ``user_api="blas"``
    caps BLAS instead (a GP's many small kernel products, ``surrogates.gp``)."""
    global _CONTROLLER
    if n is None:
        return contextlib.nullcontext()
    if _CONTROLLER is None:
        import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime the controller must see)
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=int(n), user_api=user_api)


def make_model(
    family: str, seed: int, n_estimators: int = 100, threads: int | None = None, target: str | None = None
) -> Any:
    """The candidate families, with settings fixed in advance (no tuning on the test folds).
    ``target`` matters to ``gp`` only: an error target is modelled on the logit scale."""
    from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if family == "extra_trees":
        return ExtraTreesRegressor(
            n_estimators=n_estimators, max_features=1.0, min_samples_leaf=1, random_state=seed, n_jobs=threads or -1
        )
    if family == "random_forest":
        return RandomForestRegressor(
            n_estimators=n_estimators, max_features=0.5, min_samples_leaf=1, random_state=seed, n_jobs=threads or -1
        )
    if family == "hist_gbm":
        return HistGradientBoostingRegressor(
            max_iter=3 * n_estimators,
            learning_rate=0.05,
            max_leaf_nodes=31,
            min_samples_leaf=5,
            l2_regularization=1e-3,
            early_stopping=False,
            random_state=seed,
        )
    if family == "hist_gbm_small":
        return HistGradientBoostingRegressor(
            max_iter=3 * n_estimators,
            learning_rate=0.05,
            max_leaf_nodes=7,
            min_samples_leaf=10,
            max_features=0.5,
            l2_regularization=1e-3,
            early_stopping=False,
            random_state=seed,
        )
    if family == "knn":
        # kd_tree: exact distances per query, so one query and a batch break ties alike (brute
        # force computes distances by matrix products whose rounding depends on the batch)
        knn = KNeighborsRegressor(n_neighbors=7, weights="distance", algorithm="kd_tree")
        return make_pipeline(StandardScaler(), knn)
    if family == "gp":
        from mfbench.surrogates.gp import PairGP

        return PairGP(link="logit" if target in TARGET_FIELDS else "identity", seed=seed)
    raise UsageError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")


@dataclass
class Surrogate:
    """The fitted models of one table with the manifest that describes them; predictions are
    clipped to the range the table observed (``target_range``) so no model answers outside it."""

    encoder: Encoder
    models: dict[str, Any]  # target / NOISE_TARGET / COST_TARGET -> fitted regressor
    manifest: dict[str, Any]
    path: Path | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None  # OpenMP threads for batch predictions (None: library default)

    def __post_init__(self) -> None:
        from mfbench.surrogates.fast import BitvectorTrees, PackedTrees, bitvector_packable, packable

        self.targets = [t for t in self.models if t not in (NOISE_TARGET, COST_TARGET)]
        self._range = {t: (float(lo), float(hi)) for t, (lo, hi) in self.manifest.get("target_range", {}).items()}
        for m in self.models.values():  # prediction is called from one thread per query
            for est in (m, getattr(m, "steps", [[None, None]])[-1][1]):
                if hasattr(est, "n_jobs"):
                    est.n_jobs = None
        bits = {k: m for k, m in self.models.items() if bitvector_packable(m)}
        self._bits = BitvectorTrees(bits) if bits else None
        fast = {k: m for k, m in self.models.items() if k not in bits and packable(m)}
        self._packed = PackedTrees(fast) if fast else None
        self._slow = [k for k in self.models if k not in bits and k not in fast]

    @property
    def budgets(self) -> list[int]:
        return [int(b) for b in self.manifest["budgets"]]

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", "surrogate"))

    def _transform(self, name: str, v: np.ndarray) -> np.ndarray:
        if name == COST_TARGET:
            return np.exp(v)  # seconds per epoch > 0
        if name == NOISE_TARGET:
            return np.maximum(v, 0.0)
        # boosting extrapolates past the data (it predicted 0.0 val error where the table's
        # best is 0.011): a surrogate answers within the range its table observed
        lo, hi = self._range.get(name, (0.0, 1.0))
        return np.clip(v, lo, hi)

    def predict_rows(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Every model on many feature rows: the compiled bitvector trees where they apply,
        scikit-learn's batch predict for the others."""
        # a few rows gain nothing from threads and lose much when the machine is busy; a big
        # batch uses ``threads`` (None: every core)
        big = len(X) >= 2048
        out = self._predict_bits(X, self.threads if big else 1)
        jobs = (self.threads or -1) if big else None
        with limit_threads(self.threads if big else 1):
            for k in [*(self._packed.names if self._packed else []), *self._slow]:
                m = self.models[k]
                if hasattr(m, "n_jobs") and hasattr(m, "estimators_"):
                    m.n_jobs = jobs
                # scikit-learn walks the whole batch once per tree: in chunks that stay in
                # the CPU cache, boosting predicts 1.5x faster (100k rows of 30 features)
                parts = [m.predict(X[i : i + PREDICT_CHUNK]) for i in range(0, len(X) or 1, PREDICT_CHUNK)]
                pred = np.concatenate(parts) if len(parts) != 1 else parts[0]
                out[k] = self._transform(k, np.asarray(pred, dtype=np.float64))
        return out

    def predict_few(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """The same for one to a few rows: compiled or packed trees (10-100x faster than
        scikit-learn's per-tree calls); the compiled ones give ``predict_rows``'s bits."""
        out = self._predict_bits(X, 1)
        if self._packed is not None:
            P = self._packed.predict_rows(X)
            for j, k in enumerate(self._packed.names):
                out[k] = self._transform(k, P[:, j])
        for k in self._slow:
            out[k] = self._transform(k, np.asarray(self.models[k].predict(X), dtype=np.float64))
        return out

    def _predict_bits(self, X: np.ndarray, threads: int | None) -> dict[str, np.ndarray]:
        if self._bits is None:
            return {}
        P = self._bits.predict(X, threads)
        return {k: self._transform(k, P[:, j]) for j, k in enumerate(self._bits.names)}


def design_matrices(encoder: Encoder, data: TrainingData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The encoded configs, the feature rows of every (config, epoch, schedule) row, and one row
    per config at the largest budget (what the cost model learns from)."""
    Xc = encoder.encode_configs(data.configs)
    X = encoder.rows(Xc[data.row_config], data.epoch, data.schedule)
    mb = max(data.budgets)
    Xcost = encoder.rows(Xc, mb, mb)
    return Xc, X, Xcost


def fit_models(
    data: TrainingData,
    encoder: Encoder,
    chosen: Mapping[str, str],
    seed: int,
    n_estimators: int,
    threads: int | None = None,
) -> dict[str, Any]:
    """One model per target of the family ``chosen`` for it, fitted on all of the table's finite
    rows (used by a new fit and by a refit from a manifest, so both give the same models)."""
    _, X, Xcost = design_matrices(encoder, data)
    models: dict[str, Any] = {}
    for target, fam in chosen.items():
        if target == COST_TARGET:
            spe = data.seconds_per_epoch
            ok = np.isfinite(spe)
            Xt, y = Xcost[ok], np.log(spe[ok])
        else:
            y = data.y[target]
            ok = np.isfinite(y)
            Xt, y = X[ok], y[ok]
        if len(y) == 0:
            raise UsageError(f"no finite values of {target} to fit")
        m = make_model(fam, seed, n_estimators, threads, target)
        with limit_threads(threads):
            m.fit(Xt, y)
        models[target] = m
    return models


def target_ranges(data: TrainingData) -> dict[str, list[float]]:
    """The smallest and largest seed mean of each error target in the table: the bounds of
    every prediction."""
    return {
        t: [float(np.nanmin(v)), float(np.nanmax(v))]
        for t, v in data.y.items()
        if t in TARGET_FIELDS and np.isfinite(v).any()
    }
