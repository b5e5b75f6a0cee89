"""Configs (and a point on a learning curve) as rows of a numeric matrix.

Written by hand rather than through a scikit-learn ``ColumnTransformer`` because the encoder
sits on the hot path of every surrogate query: one list comprehension per hyperparameter and a
few vectorized numpy operations encode 100k configs in about half a second, the same batch
given as columns (a DataFrame) in a few tens of milliseconds, and one config in tens of
microseconds. Categoricals are one-hot, numbers are mapped to [0, 1] (in log space for
log hyperparameters), ordinals to their rank in [0, 1], and an inactive hyperparameter is the
constant ``INACTIVE`` (and all-zero one-hot), so that trees can split inactive values apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ConfigSpace import ConfigurationSpace, Constant
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    NumericalHyperparameter,
    OrdinalHyperparameter,
)

from mfbench.core.errors import UsageError
from mfbench.training.space import native, space_from_json, space_to_json

INACTIVE = -1.0
_SLACK = 1e-9  # relative tolerance on numeric bounds (values that went through a string)


class Encoder:
    """Maps configs of ``space`` plus ``(epoch, schedule_epochs)`` to feature rows.

    The two curve features are ``log(epoch) / log(max_budget)`` and the same for the length of
    the LR schedule: ``scratch`` at budget ``b`` is the point ``(b, b)``, ``continue`` is
    ``(b, max_budget)``.
    """

    def __init__(self, space: ConfigurationSpace, budgets: Sequence[int]):
        self.space = space
        self.space_json = space_to_json(space)
        self.budgets = [int(b) for b in budgets]
        self._log_max = math.log(max(self.budgets)) if max(self.budgets) > 1 else 1.0
        self._cols: list[tuple[str, str, Any, int]] = []  # (name, kind, info, first column)
        names: list[str] = []
        for name in space.keys():
            hp = space[name]
            if isinstance(hp, Constant):
                continue
            if isinstance(hp, CategoricalHyperparameter):
                choices = [native(c) for c in hp.choices]
                self._cols.append((name, "cat", choices, len(names)))
                names.extend(f"{name}={c}" for c in choices)
            elif isinstance(hp, OrdinalHyperparameter):
                seq = [native(v) for v in hp.sequence]
                self._cols.append((name, "ord", {v: i / max(len(seq) - 1, 1) for i, v in enumerate(seq)}, len(names)))
                names.append(name)
            elif isinstance(hp, NumericalHyperparameter):
                lo, hi, log = float(hp.lower), float(hp.upper), bool(hp.log)
                self._cols.append((name, "num", (lo, hi, log), len(names)))
                names.append(name)
            else:
                raise UsageError(f"cannot encode hyperparameter {name} of type {type(hp).__name__}")
        self._known = frozenset(space.keys())
        # categorical value -> column offset, for the batched fast path (booleans keyed with
        # their type: 1 == True hash alike, and only the space's own value is valid)
        self._luts: dict[str, tuple[bool, dict[Any, int]]] = {}
        for name, kind, info, _ in self._cols:
            if kind == "cat":
                typed = any(type(c) is bool for c in info)
                self._luts[name] = (typed, {((type(c), c) if typed else c): j for j, c in enumerate(info)})
        self.n_config_features = len(names)
        self.feature_names = names + ["log_epoch", "log_schedule"]
        self.n_features = len(self.feature_names)

    @classmethod
    def from_json(cls, space_json: str, budgets: Sequence[int]) -> Encoder:
        return cls(space_from_json(space_json), budgets)

    # ----------------------------------------------------------------------------------

    def encode_configs(self, configs: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> np.ndarray:
        """``(n, n_config_features)`` float64; refuses unknown names and illegal values.

        ``configs`` is a list of config dicts, or a mapping of columns (name -> array, e.g. a
        pandas DataFrame; None or NaN where a hyperparameter is inactive, a missing column
        inactive throughout): a big batch given as columns is encoded without a Python loop
        over its rows."""
        if isinstance(configs, Mapping) or hasattr(configs, "columns"):
            return self.encode_columns(configs)
        n = len(configs)
        X = np.zeros((n, self.n_config_features))
        if n == 0:
            return X
        known = self._known
        if not all(map(known.issuperset, configs)):
            keys: set[str] = set()
            for c in configs:
                keys.update(c.keys())
            raise UsageError(f"unknown hyperparameters {sorted(keys - known)} for space {self.space.name!r}")
        for name, kind, info, col in self._cols:
            self._encode_values(X, name, kind, info, col, [c.get(name) for c in configs])
        return X

    def encode_columns(self, columns: Mapping[str, Any]) -> np.ndarray:
        """``encode_configs`` of a mapping of equally long columns."""
        names = list(columns.columns if hasattr(columns, "columns") else columns)
        unknown = sorted(set(names) - self._known)
        if unknown:
            raise UsageError(f"unknown hyperparameters {unknown} for space {self.space.name!r}")
        arrays = {k: np.asarray(columns[k]) for k in names}
        lengths = {a.shape[0] if a.ndim == 1 else -1 for a in arrays.values()}
        if len(lengths) > 1 or -1 in lengths:
            raise UsageError("configs given as columns need one 1-d column per hyperparameter, all as long")
        n = lengths.pop() if lengths else 0
        X = np.zeros((n, self.n_config_features))
        for name, kind, info, col in self._cols:
            arr = arrays.get(name)
            if arr is None:
                self._encode_values(X, name, kind, info, col, [None] * n)
            elif arr.dtype == object or kind == "ord" or (kind == "cat" and arr.dtype.kind not in "USb"):
                # None for inactive, ordinals, or a type the vectorized tests cannot judge: the list path
                self._encode_values(X, name, kind, info, col, [None if _isnan(v) else v for v in arr.tolist()])
            elif kind == "cat":
                typed = any(type(c) is bool for c in info)
                if typed != (arr.dtype.kind == "b"):
                    raise UsageError(f"{name}={arr[0]!r} is not one of {info}")
                seen = np.zeros(n, dtype=bool)
                for j, choice in enumerate(info):
                    m = arr == choice
                    X[:, col + j] = m
                    seen |= m
                if not seen.all():
                    raise UsageError(f"{name}={arr[int(np.argmin(seen))]!r} is not one of {info}")
            else:
                if arr.dtype.kind not in "iuf":
                    raise UsageError(f"{name} must be a number")
                X[:, col] = self._unit(name, info, arr.astype(np.float64))
        return X

    def _encode_values(self, X: np.ndarray, name: str, kind: str, info: Any, col: int, vals: list[Any]) -> None:
        """Column(s) of ``X`` for one hyperparameter's values (None: inactive)."""
        n = len(vals)
        if kind == "cat":
            typed, lut = self._luts[name]
            try:  # fast path: every value one of the choices
                idx = [lut.get((type(v), v), -1) for v in vals] if typed else [lut.get(v, -1) for v in vals]
            except TypeError:  # an unhashable value: the general path says what is wrong
                idx = [-1]
            if min(idx, default=0) >= 0:
                X[np.arange(n), col + np.asarray(idx, dtype=np.intp)] = 1.0
                return
            arr = np.empty(n, dtype=object)
            arr[:] = vals
            seen = np.zeros(n, dtype=bool)
            for j, choice in enumerate(info):
                m = (
                    np.fromiter((v == choice and type(v) is type(choice) for v in vals), bool, n)
                    if isinstance(choice, bool)
                    else (arr == choice)
                )
                X[:, col + j] = m
                seen |= m
            bad = ~seen & (arr != None)  # noqa: E711 (elementwise on an object array)
            if bad.any():
                raise UsageError(f"{name}={vals[int(np.argmax(bad))]!r} is not one of {info}")
        elif kind == "ord":
            try:
                X[:, col] = [INACTIVE if v is None else info[v] for v in vals]
            except (KeyError, TypeError):
                bad_v = next(v for v in vals if v is not None and v not in info)
                raise UsageError(f"{name}={bad_v!r} is not one of {list(info)}") from None
        else:
            try:
                x = np.array([math.nan if v is None else v for v in vals], dtype=np.float64)
            except (TypeError, ValueError):
                raise UsageError(f"{name} must be a number") from None
            X[:, col] = self._unit(name, info, x)

    @staticmethod
    def _unit(name: str, info: tuple[float, float, bool], x: np.ndarray) -> np.ndarray:
        """A numeric hyperparameter (NaN: inactive) mapped to [0, 1], or ``INACTIVE``."""
        lo, hi, log = info
        active = ~np.isnan(x)
        xa = x[active]
        slack = _SLACK * max(abs(lo), abs(hi), 1.0)
        if xa.size and (xa.min() < lo - slack or xa.max() > hi + slack):
            raise UsageError(f"{name} must be within [{lo}, {hi}]")
        if log:
            u = (np.log(np.clip(xa, lo, hi)) - math.log(lo)) / (math.log(hi) - math.log(lo))
        else:
            u = (xa - lo) / (hi - lo) if hi > lo else np.zeros_like(xa)
        out = np.full(len(x), INACTIVE)
        out[active] = u
        return out

    def encode_one(self, config: Mapping[str, Any]) -> np.ndarray:
        """``encode_configs([config])`` for one config in plain Python (a single surrogate
        query would otherwise pay numpy's per-call overhead once per hyperparameter); any
        value it does not take as given goes through ``encode_configs``, which decides and
        says why. Tests check that both agree."""
        row = [0.0] * self.n_config_features
        try:
            if not self._known.issuperset(config):
                raise ValueError
            for name, kind, info, col in self._cols:
                v = config.get(name)
                if v is None:
                    if kind != "cat":
                        row[col] = INACTIVE
                elif kind == "cat":
                    for j, choice in enumerate(info):
                        if v == choice and type(v) is type(choice):
                            row[col + j] = 1.0
                            break
                    else:
                        raise ValueError
                elif kind == "ord":
                    row[col] = info[v]
                else:
                    lo, hi, log = info
                    if type(v) not in (int, float) or not lo <= v <= hi:
                        raise ValueError
                    if log:
                        row[col] = (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
                    else:
                        row[col] = (v - lo) / (hi - lo) if hi > lo else 0.0
        except (ValueError, KeyError, TypeError):
            return self.encode_configs([config])
        return np.array([row])

    def curve_features(self, epochs: Any, schedules: Any) -> np.ndarray:
        e = np.log(np.asarray(epochs, dtype=np.float64)) / self._log_max
        s = np.log(np.asarray(schedules, dtype=np.float64)) / self._log_max
        return np.stack(np.broadcast_arrays(e, s), axis=-1)

    def rows(self, Xc: np.ndarray, epochs: Any, schedules: Any) -> np.ndarray:
        """Feature rows for encoded configs ``Xc`` at the points ``(epochs, schedules)``
        (scalars or arrays broadcastable to ``len(Xc)``)."""
        n = Xc.shape[0]
        curve = self.curve_features(np.broadcast_to(epochs, (n,)), np.broadcast_to(schedules, (n,)))
        return np.concatenate([Xc, curve], axis=1)

    def spec(self) -> dict[str, Any]:
        return {"feature_names": self.feature_names, "budgets": self.budgets, "inactive": INACTIVE}


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)
