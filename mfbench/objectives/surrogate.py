"""The surrogate objective: fitted models' predictions over the continuous space."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mfbench.core.errors import UsageError
from mfbench.core.seeds import mix64, mix64_int, row_hash, row_hash_one, standard_normal
from mfbench.core.types import Result
from mfbench.objectives.base import Objective, _noise_mode
from mfbench.objectives.tabular import TabularObjective

log = logging.getLogger(__name__)


class SurrogateObjective(Objective):
    """Model predictions over the whole (continuous) space of the training table.

    The mean comes from the fitted target models; with ``noise="sample"`` a draw
    ``std(config, budget) * z`` is added, where ``std`` is the noise model (the per-seed spread
    of the val error) and ``z ~ N(0, 1)`` is seeded by ``(seed, config, budget)`` — the config
    enters through its encoded feature row, a stable function of its values, because hashing
    its canonical JSON would cost more than the prediction. The same draw moves the test
    error (val and test errors of one training are correlated). Budgets between ladder points
    are interpolated linearly in log-budget. Cost = predicted seconds per epoch (> 0) x the
    epochs paid, so cumulative cost never decreases with epochs. Status is always ``ok``: a
    config that tends to diverge is predicted near chance error.
    """

    kind = "surrogate"

    def __init__(
        self,
        surrogate: Any,
        noise: str = "sample",
        *,
        name: str | None = None,
        threads: int | None = None,
        cache_size: int = 100_000,
        restrict_to: Any = None,
    ):
        """``restrict_to``: a table (a tabular benchmark of a grid): serve only its
        configurations, with its space, and the optimum, worst value and full-budget cost
        over them: the surrogate's twin of that table, to compare optimizer rankings on both."""
        from mfbench.surrogates.model import Surrogate
        from mfbench.surrogates.store import load_surrogate

        self.noise = _noise_mode(noise)
        self.deterministic = self.noise == "mean"  # the fitted mean, no noise draw
        self.surrogate = surrogate if isinstance(surrogate, Surrogate) else load_surrogate(surrogate, threads=threads)
        if threads is not None:
            self.surrogate.threads = threads
        self.encoder = self.surrogate.encoder
        self.space = self.encoder.space
        self.budgets = self.surrogate.budgets
        self.name = name or self.surrogate.name
        self._cache: dict[Any, tuple[float, float, float, float]] = {}
        self._cache_size = int(cache_size)
        self._ref = self.surrogate.manifest.get("reference") or {}
        from mfbench.surrogates.data import COST_TARGET, NOISE_TARGET

        self._noise_key, self._cost_key = NOISE_TARGET, COST_TARGET
        self._test_key = "test_error" if "test_error" in self.surrogate.models else "val_error"
        self.restricted_to: str | None = None
        if restrict_to is not None:
            self._restrict(restrict_to)

    def _restrict(self, table: Any) -> None:
        tab = table if isinstance(table, TabularObjective) else TabularObjective(table)
        if list(tab.budgets) != list(self.budgets):
            raise UsageError(f"{tab.name}: ladder {tab.budgets} differs from the surrogate's {self.budgets}")
        mb = self.max_budget
        Xc = self.encoder.encode_configs(tab.configs)  # refuses configs outside the surrogate's space
        pred = self.surrogate.predict_rows(self.encoder.rows(Xc, mb, mb))
        val, test = pred["val_error"], pred[self._test_key]
        i = int(np.argmin(val))
        self.space = tab.space
        self.restricted_to = str(tab.path)
        self._ref = {
            "optimum": {"val_error": float(val[i]), "test_error": float(test[i])},
            "optimum_config": dict(tab.configs[i]),
            "worst_val_error": float(np.max(val)),
            "full_budget_cost": float(np.median(pred[self._cost_key]) * mb),
            "n_configs": len(tab.configs),
        }

    def _points(self, budget: float, mode: str) -> list[tuple[int, int, float]]:
        """(epoch, schedule, weight) of the ladder points that make up ``budget``."""
        lad = self.budgets
        b = float(budget)
        if b in lad:
            pts = [(int(b), 1.0)]
        else:
            hi = next(x for x in lad if x > b)
            lo = max(x for x in lad if x < b)
            w = (math.log(b) - math.log(lo)) / (math.log(hi) - math.log(lo))
            pts = [(lo, 1.0 - w), (hi, w)]
        return [(e, e if mode == "scratch" else self.max_budget, w) for e, w in pts]

    def _combine(self, pred: dict[str, np.ndarray], pts: list, n: int) -> tuple[np.ndarray, ...]:
        val = np.zeros(n)
        test = np.zeros(n)
        std = np.zeros(n)
        seconds_per_epoch = np.zeros(n)
        for k, (_, _, w) in enumerate(pts):
            sl = slice(k * n, (k + 1) * n)
            val += w * pred["val_error"][sl]
            test += w * pred[self._test_key][sl]
            std += w * pred[self._noise_key][sl]
            seconds_per_epoch += w * pred[self._cost_key][sl]
        return val, test, std, seconds_per_epoch

    def _means_one(self, config: Mapping[str, Any], budget: float, mode: str) -> tuple[float, float, float, float, int]:
        try:
            key = (frozenset(config.items()), budget, mode)
            hit = self._cache.get(key)
        except TypeError:
            key, hit = None, None
        if hit is not None:
            return hit
        x = self.encoder.encode_one(config)
        pts = self._points(budget, mode)
        X = np.concatenate([self.encoder.rows(x, e, s) for e, s, _ in pts])
        val, test, std, seconds_per_epoch = self._combine(self.surrogate.predict_few(X), pts, 1)
        h = row_hash_one(x)
        out = (float(val[0]), float(test[0]), float(std[0]), float(seconds_per_epoch[0]), h)
        if key is not None:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[key] = out
        return out

    def evaluate(self, config, budget, seed, *, mode="scratch", resume_from=None, curve=False) -> Result:
        self.check_call(budget, mode, resume_from)
        val, test, std, seconds_per_epoch, h = self._means_one(config, budget, mode)
        if self.noise == "sample" and std > 0:
            z = float(
                standard_normal(np.atleast_1d(np.uint64(mix64_int(seed, h, self._noise_budget(budget, mode)))))[0]
            )
            val, test = min(max(val + std * z, 0.0), 1.0), min(max(test + std * z, 0.0), 1.0)
        epochs = budget - (resume_from or 0) if mode == "continue" else budget
        res = Result(
            val,
            seconds_per_epoch * epochs,
            int(epochs),
            {"test_error": test},
            training_seed=int(seed) if self.noise == "sample" else None,
        )
        if curve:
            res.curve = self._curve(config, budget, mode)
        return res

    def _noise_budget(self, budget: float, mode: str) -> int:
        # continue: one draw per training, however far it is resumed (as for a table's seed)
        return self.max_budget if mode == "continue" else int(round(float(budget) * 1000))

    def predict_arrays(
        self,
        configs: Sequence[Mapping[str, Any]],
        budget: float,
        seeds: Any,
        mode: str = "scratch",
        resume_from: Any = None,
    ) -> dict[str, np.ndarray]:
        """The vectorized core: ``val_error``, ``test_error``, ``cost_seconds``, ``cost_epochs``
        (and the noise-free ``val_mean``) for many configs at one budget."""
        self.check_call(budget, mode, None if np.ndim(resume_from) else resume_from)
        Xc = self.encoder.encode_configs(configs)
        n = Xc.shape[0]
        pts = self._points(budget, mode)
        X = np.concatenate([self.encoder.rows(Xc, e, s) for e, s, _ in pts])
        val, test, std, seconds_per_epoch = self._combine(self.surrogate.predict_rows(X), pts, n)
        out = {"val_mean": val.copy(), "test_mean": test.copy()}
        if self.noise == "sample":
            z = standard_normal(mix64(np.asarray(seeds), row_hash(Xc), self._noise_budget(budget, mode)))
            z = np.where(std > 0, z, 0.0)
            val = np.clip(val + std * z, 0.0, 1.0)
            test = np.clip(test + std * z, 0.0, 1.0)
        r = 0 if resume_from is None or mode == "scratch" else np.asarray(resume_from)
        epochs = np.broadcast_to(np.asarray(budget) - r, (n,))
        out.update(val_error=val, test_error=test, cost_seconds=seconds_per_epoch * epochs, cost_epochs=epochs)
        return out

    def evaluate_batch(self, configs, budget, seeds, **kw) -> list[Result]:
        curve = kw.pop("curve", False)
        out = self.predict_arrays(configs, budget, list(seeds), kw.get("mode", "scratch"), kw.get("resume_from"))
        val, test, cost = out["val_error"].tolist(), out["test_error"].tolist(), out["cost_seconds"].tolist()
        ep = [int(e) for e in out["cost_epochs"].tolist()]
        seeds = [int(x) for x in seeds] if self.noise == "sample" else [None] * len(val)
        res = [Result(val[i], cost[i], ep[i], {"test_error": test[i]}, training_seed=seeds[i]) for i in range(len(val))]
        if curve:
            for r, c in zip(res, configs):
                r.curve = self._curve(c, budget, kw.get("mode", "scratch"))
        return res

    def _curve(self, config: Mapping[str, Any], budget: float, mode: str) -> dict[str, list[float]]:
        """Noise-free predictions at the ladder epochs up to ``budget`` (and at ``budget``)."""
        sched = int(budget) if mode == "scratch" else self.max_budget
        epochs = sorted({*(b for b in self.budgets if b <= budget), int(budget)})
        x = self.encoder.encode_configs([config])
        if sched in self.budgets:
            pred = self.surrogate.predict_rows(self.encoder.rows(np.repeat(x, len(epochs), 0), epochs, sched))
            val, test, seconds_per_epoch = pred["val_error"], pred[self._test_key], pred[self._cost_key]
        else:  # off-ladder schedule: the scratch prediction at each epoch
            vals = [self._means_one(config, e, "scratch") for e in epochs]
            val, test, seconds_per_epoch = (np.array([v[k] for v in vals]) for k in (0, 1, 3))
        return {
            "epoch": epochs,
            "val_error": val.tolist(),
            "test_error": test.tolist(),
            "cum_seconds": (seconds_per_epoch * np.asarray(epochs)).tolist(),
        }

    def true_value(self, config: Mapping[str, Any]) -> tuple[float, float]:
        val, test, *_ = self._means_one(config, self.max_budget, "scratch")
        return val, test

    def full_budget_cost(self) -> float:
        if "full_budget_cost" in self._ref:
            return float(self._ref["full_budget_cost"])
        raise UsageError(f"{self.name}: the surrogate's manifest has no reference values; refit it")

    @property
    def optimum(self) -> dict[str, float]:
        if "optimum" not in self._ref:
            raise UsageError(f"{self.name}: the surrogate's manifest has no reference values; refit it")
        return dict(self._ref["optimum"])

    @property
    def optimum_config(self) -> dict[str, Any] | None:
        return self._ref.get("optimum_config")

    @property
    def bounds(self) -> dict[str, float]:
        return {"best": float(self.optimum["val_error"]), "worst": float(self._ref["worst_val_error"])}

    def manifest(self) -> dict[str, Any]:
        m = self.surrogate.manifest
        return {
            "name": self.name,
            "kind": self.kind,
            "path": str(self.surrogate.path or ""),
            "noise": self.noise,
            "data_sha256": m["table"]["data_sha256"],
            "models": {k: {kk: v.get(kk) for kk in ("family", "sha256")} for k, v in m["models"].items()},
            "versions": m.get("versions", {}),
            **({"restricted_to": self.restricted_to} if self.restricted_to else {}),
        }
