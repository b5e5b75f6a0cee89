"""The ``gp`` surrogate family: one Gaussian process per point of the learning curve.

Why a GP: on the CNN tables, tree models rank configurations within a budget well below one
real rerun and generalize poorly to configurations unlike their training set (the held-out
grid: Spearman 0.38 at 27 epochs). A GP with one length scale per hyperparameter (ARD Matern
5/2 + white noise, the kernel most GP-based BO libraries default to) was
the only model structure of issue 22's models lever that improved both
(``scripts/results/surrogate_models_digits-cnn.txt``).

The structure: a feature row is an encoded configuration followed by ``N_CURVE`` curve features
(``Encoder.rows``: the epoch and its schedule). A table holds a few such (epoch, schedule) points
per configuration (10 on a 1,3,9,27 ladder), so ``PairGP`` fits one GP per point on the
configuration features alone. The kernel's hyperparameters are fitted once, by scikit-learn's
``GaussianProcessRegressor`` (maximum marginal likelihood, L-BFGS from the initial kernel, no
random restarts: deterministic), on the point at the largest epoch of the largest schedule, and
reused as they are for the other points (a full ARD fit per point costs ~20 s each and changed
no gate). Error targets are modelled as logit(error): errors live in (0, 1) and their spread
shrinks near 0, where the ranking matters most.

A fitted ``PairGP`` is a few arrays (``to_arrays``), so it is saved with ``numpy.savez`` and
loaded with ``allow_pickle=False``: no code runs from a surrogate folder, and the prediction
(``predict``) is this module's own numpy, equal to scikit-learn's ``GaussianProcessRegressor
.predict`` mean (tested to 1e-9). Rows at a curve point the table did not have are refused
(the objectives only ask for the ladder's points), unless the model was fitted on one point
only: the cost model (seconds per epoch) learns from the largest budget's rows and answers
every point alike, as a tree model that never split on the curve features would.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

#: curve features at the end of every feature row (``Encoder.curve_features``)
N_CURVE = 2
#: logit's clip: errors of exactly 0 or 1 stay finite
EPS = 1e-4
LINKS = ("identity", "logit")
#: the layout of a saved model's arrays (``to_arrays``); another is refused on load
FORMAT_VERSION = 1


def _to_link(y: np.ndarray, link: str) -> np.ndarray:
    if link == "logit":
        p = np.clip(y, EPS, 1.0 - EPS)
        return np.log(p) - np.log1p(-p)
    return y


def _from_link(v: np.ndarray, link: str) -> np.ndarray:
    if link == "logit":
        return 1.0 / (1.0 + np.exp(-v))
    return v


def matern52(A: np.ndarray, B: np.ndarray, B_sq: np.ndarray | None = None) -> np.ndarray:
    """Matern 5/2 of already length-scaled rows: (1 + √5 d + 5/3 d²) exp(−√5 d); ``B_sq``: the
    rows' squared norms of ``B``, if already known (a training set's are computed once).
    In place on one rows x training matrix: its temporaries are what a batch costs."""
    B_sq = (B * B).sum(1) if B_sq is None else B_sq
    K = A @ B.T
    K *= -2.0
    K += (A * A).sum(1)[:, None]
    K += B_sq[None, :]
    np.maximum(K, 0.0, out=K)
    K *= 5.0
    np.sqrt(K, out=K)  # now √5 d
    E = np.negative(K)
    np.exp(E, out=E)
    P = np.multiply(K, K)
    P *= 1.0 / 3.0
    P += K
    P += 1.0
    P *= E
    return P


#: rows per kernel block in ``PairGP.predict``: a 256 x 461 block stays in the CPU cache (a
#: 100,000-row batch 1.8x faster than 16,384-row blocks, 5x faster than one block)
CHUNK = 256


class PairGP:
    """scikit-learn-style regressor (``fit``/``predict``) over feature rows: a GP per curve point."""

    def __init__(self, link: str = "identity", seed: int = 0):
        if link not in LINKS:
            raise ValueError(f"link must be one of {LINKS}, got {link!r}")
        self.link = link
        self.seed = int(seed)

    def _derive(self) -> None:
        """What every prediction needs from the fitted arrays, computed once (after ``fit`` and
        ``from_arrays``): each point's training rows' squared norms, its GP weights and the
        curve point -> index map."""
        self._sq = [(t * t).sum(1) for t in self.train_]
        self._weights = [self.amplitude_ * a for a in self.alpha_]
        self._index = {tuple(p): k for k, p in enumerate(self.points_.tolist())}

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray) -> PairGP:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] <= N_CURVE or len(X) != len(y):
            raise ValueError(f"PairGP needs feature rows with {N_CURVE} curve features and one target per row")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise ValueError("PairGP: features and targets must be finite")
        Xc, C = X[:, :-N_CURVE], X[:, -N_CURVE:]
        points, which = np.unique(C, axis=0, return_inverse=True)
        which = which.ravel()
        if len(points) > 64:
            raise ValueError(f"PairGP fits one GP per curve point; these rows have {len(points)} (at most 64)")
        self.active_ = np.flatnonzero(np.ptp(Xc, axis=0) > 0)
        Z = self._active(Xc)
        t = _to_link(y, self.link)
        # the anchor: the largest schedule's largest epoch (sorted by schedule, then epoch)
        order = sorted(range(len(points)), key=lambda k: (points[k][1], points[k][0]), reverse=True)
        kernel: Any = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            np.ones(max(len(self.active_), 1)), (1e-2, 1e3), nu=2.5
        ) + WhiteKernel(0.1, (1e-4, 10.0))
        self.points_ = points
        self.train_: list[np.ndarray] = [np.zeros((0, Z.shape[1]))] * len(points)
        self.alpha_: list[np.ndarray] = [np.zeros(0)] * len(points)
        self.y_mean_ = np.zeros(len(points))
        self.y_std_ = np.ones(len(points))
        for n, k in enumerate(order):
            m = which == k
            with warnings.catch_warnings():
                # an ARD length scale at its upper bound is a hyperparameter the data says is
                # irrelevant here: expected, not a failed fit
                warnings.simplefilter("ignore", ConvergenceWarning)
                gp = self._fit_one(kernel, Z[m], t[m], n == 0)
            if n == 0:
                kernel = gp.kernel_
                prod = kernel.k1
                self.amplitude_ = float(prod.k1.constant_value)
                self.length_scale_ = np.atleast_1d(np.asarray(prod.k2.length_scale, dtype=np.float64))
                self.noise_ = float(kernel.k2.noise_level)
            self.train_[k] = Z[m] / self.length_scale_
            self.alpha_[k] = np.asarray(gp.alpha_, dtype=np.float64).ravel()
            self.y_mean_[k] = float(np.ravel(gp._y_train_mean)[0])
            self.y_std_[k] = float(np.ravel(gp._y_train_std)[0])
        self._derive()
        return self

    def _active(self, Xc: np.ndarray) -> np.ndarray:
        """The features that vary in the training rows (one constant column if none does)."""
        return Xc[:, self.active_] if len(self.active_) else np.zeros((len(Xc), 1))

    def _fit_one(self, kernel: Any, Z: np.ndarray, t: np.ndarray, optimize: bool) -> Any:
        from sklearn.gaussian_process import GaussianProcessRegressor

        gp = GaussianProcessRegressor(
            kernel, normalize_y=True, optimizer="fmin_l_bfgs_b" if optimize else None, random_state=self.seed
        )
        return gp.fit(Z, t)

    # -- prediction ----------------------------------------------------------------------------
    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if len(X) <= CHUNK:
            return self._predict(X)
        # a batch is many small products (256 x features x training rows): threaded BLAS only
        # adds overhead there (on 2 busy cores, half the single-thread speed)
        from mfbench.surrogates.model import limit_threads

        with limit_threads(1, user_api="blas"):
            return self._predict(X)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        groups = self._groups(X[:, -N_CURVE:])
        Z = self._active(X[:, :-N_CURVE]) / self.length_scale_
        out = np.empty(len(X))
        for k, rows in groups:
            for i in range(0, len(rows), CHUNK):
                r = rows[i : i + CHUNK]
                K = matern52(Z[r], self.train_[k], self._sq[k])
                out[r] = (K @ self._weights[k]) * self.y_std_[k] + self.y_mean_[k]
        return _from_link(out, self.link)

    def _groups(self, C: np.ndarray) -> list[tuple[int, Any]]:
        """(curve point, its rows) for the rows' curve features; a point the model lacks is a
        ``ValueError``. One to a few rows (an optimizer's query) go through a dict: the
        array route's fixed costs were most of a one-row prediction."""
        if len(self.points_) == 1:  # fitted on one point (the cost model): the curve is not a feature
            return [(0, np.arange(len(C)))]
        if len(C) <= 16:
            found: dict[int, list[int]] = {}
            for i, key in enumerate(map(tuple, C.tolist())):
                k = self._index.get(key)
                if k is None:
                    raise ValueError(self._unknown(key))
                found.setdefault(k, []).append(i)
            return list(found.items())
        hit = (C[:, None, :] == self.points_[None, :, :]).all(axis=2)  # rows x points
        known = hit.any(axis=1)
        if not known.all():
            raise ValueError(self._unknown(C[np.argmin(known)].tolist()))
        which = hit.argmax(axis=1)
        return [(int(k), np.flatnonzero(which == k)) for k in np.unique(which)]

    @staticmethod
    def _unknown(point: Any) -> str:
        return (
            f"PairGP has no GP for the curve point {list(point)} "
            "(it answers only the (epoch, schedule) points of its table)"
        )

    # -- saving ---------------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything ``predict`` needs, as plain arrays (``numpy.savez``; loaded without pickle)."""
        arrays = {
            "format_version": np.array(FORMAT_VERSION),
            "link": np.array(LINKS.index(self.link)),
            "seed": np.array(self.seed),
            "active": self.active_,
            "points": self.points_,
            "amplitude": np.array(self.amplitude_),
            "length_scale": self.length_scale_,
            "noise": np.array(self.noise_),
            "y_mean": self.y_mean_,
            "y_std": self.y_std_,
        }
        for k in range(len(self.points_)):
            arrays[f"train_{k}"] = self.train_[k]
            arrays[f"alpha_{k}"] = self.alpha_[k]
        return arrays

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray]) -> PairGP:
        """The model ``to_arrays`` wrote; shapes are checked so a damaged file fails here with a
        ``ValueError``, not later inside a prediction."""
        if int(a["format_version"]) != FORMAT_VERSION:
            raise ValueError(f"GP model format {int(a['format_version'])}, this mfbench reads {FORMAT_VERSION}")
        link = int(a["link"])
        if not 0 <= link < len(LINKS):
            raise ValueError(f"unknown link {link}")
        m = cls(LINKS[link], int(a["seed"]))
        m.active_ = np.asarray(a["active"], dtype=np.int64)
        m.points_ = np.asarray(a["points"], dtype=np.float64)
        m.amplitude_ = float(a["amplitude"])
        m.length_scale_ = np.asarray(a["length_scale"], dtype=np.float64)
        m.noise_ = float(a["noise"])
        m.y_mean_ = np.asarray(a["y_mean"], dtype=np.float64)
        m.y_std_ = np.asarray(a["y_std"], dtype=np.float64)
        npts, dim = len(m.points_), max(len(m.active_), 1)
        m.train_ = [np.asarray(a[f"train_{k}"], dtype=np.float64) for k in range(npts)]
        m.alpha_ = [np.asarray(a[f"alpha_{k}"], dtype=np.float64) for k in range(npts)]
        ok = (
            m.points_.ndim == 2
            and m.points_.shape[1] == N_CURVE
            and m.length_scale_.shape in ((dim,), (1,))
            and m.y_mean_.shape == m.y_std_.shape == (npts,)
            and all(t.ndim == 2 and t.shape[1] == dim and t.shape[0] == len(al) for t, al in zip(m.train_, m.alpha_))
            and (m.active_ >= 0).all()
        )
        if not ok:
            raise ValueError("GP model arrays do not fit together")
        m._derive()
        return m
