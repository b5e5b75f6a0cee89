"""The objective interface shared by real, tabular and surrogate objectives.

``evaluate(config, budget, seed, *, mode, resume_from) -> Result``. The optimized metric is
the validation error; test metrics are reported, never optimized. ``cost_seconds`` and
``cost_epochs`` are what the evaluation *costs* (with ``mode="continue"`` only the extra
epochs), which is what the runner's simulated clock charges.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ConfigSpace import ConfigurationSpace

from mfbench.core.errors import UsageError

log = logging.getLogger(__name__)

MODES = ("scratch", "continue")
#: indices into ``mfbench.training.train.STATUSES`` (not imported here: it would import torch)
_OK, _DIVERGED, _FAILED = 0, 1, 2
#: the metrics a tabular Result reports besides the optimized val error
REPORTED = ("val_error", "test_error", "val_f1", "test_f1", "val_loss", "test_loss", "train_loss")


@dataclass
class Result:
    val_error: float  # the optimized metric (1 - validation accuracy)
    cost_seconds: float
    cost_epochs: int
    metrics: dict[str, float] = field(default_factory=dict)  # test_error, val_f1, test_f1, ...
    status: str = "ok"  # ok / diverged / failed
    curve: dict[str, list[float]] | None = None  # per-epoch values when asked for
    #: which training answered: the recorded seed a table read, the seed of a surrogate's noise
    #: stream, a real training's seed (None where the objective has no such notion)
    training_seed: int | None = None

    @property
    def loss(self) -> float:
        return self.val_error


class Objective:
    """Base class for objectives.

    Attributes every objective has: ``name``, ``space`` (ConfigSpace), ``budgets`` (the
    ladder, ascending ints), ``max_budget``, ``optimum`` (best noise-free mean validation error
    at the largest budget, and its test error), ``bounds`` (the worst and best values used to
    normalize regret), ``supports_continuation``.
    """

    name: str = "objective"
    space: ConfigurationSpace
    budgets: list[int]
    supports_continuation: bool = True

    @property
    def max_budget(self) -> int:
        return int(self.budgets[-1])

    def evaluate(
        self,
        config: Mapping[str, Any],
        budget: int,
        seed: int,
        *,
        mode: str = "scratch",
        resume_from: int | None = None,
        curve: bool = False,
    ) -> Result:
        raise NotImplementedError

    def evaluate_batch(
        self, configs: Sequence[Mapping[str, Any]], budget: int, seeds: Sequence[int], **kw: Any
    ) -> list[Result]:
        return [self.evaluate(c, budget, s, **kw) for c, s in zip(configs, seeds)]

    def true_value(self, config: Mapping[str, Any]) -> tuple[float, float]:
        """Noise-free mean (val_error, test_error) at the largest budget: how the runner scores
        an incumbent, so that a lucky seed does not flatter an optimizer."""
        raise NotImplementedError

    def full_budget_cost(self) -> float:
        """Seconds of one typical training at the largest budget: the unit of ``--budget 50x``."""
        raise NotImplementedError

    @property
    def optimum(self) -> dict[str, float]:
        """``{"val_error": ..., "test_error": ...}`` of the best configuration known."""
        raise NotImplementedError

    def manifest(self) -> dict[str, Any]:
        """What identifies this objective in a run's manifest (name, kind, hashes)."""
        return {"name": self.name, "kind": type(self).__name__}

    def check_call(self, budget: int, mode: str, resume_from: int | None) -> None:
        if mode not in MODES:
            raise UsageError(f"mode must be one of {MODES}, got {mode!r}")
        if budget not in self.budgets and not (self.budgets[0] <= budget <= self.budgets[-1]):
            raise UsageError(f"budget {budget} is outside the ladder {self.budgets}")
        if mode == "continue" and resume_from is not None and not (0 <= resume_from <= budget):
            raise UsageError(f"resume_from={resume_from} must be between 0 and the budget {budget}")


class SyntheticObjective(Objective):
    """A cheap multi-fidelity function over any ConfigSpace space, for tests of optimizers.

    Each active numerical hyperparameter contributes a smooth bowl around a fixed optimum (in
    the normalized, log-aware coordinates), each categorical a fixed penalty per value; the
    value at budget ``b`` approaches the full-budget value as ``b`` grows (``+ c / b``), and
    the observation noise is Gaussian, seeded by ``(seed, config)``. Cost is linear in epochs.
    """

    def __init__(self, space: ConfigurationSpace, budgets: Sequence[int] = (1, 3, 9, 27),
                 noise: float = 0.0, seconds_per_epoch: float = 1.0, name: str = "synthetic"):
        self.space = space
        self.budgets = [int(b) for b in budgets]
        self.noise = float(noise)
        self.seconds_per_epoch = float(seconds_per_epoch)
        self.name = name
        rng = np.random.default_rng(12345)
        self._centre = {n: float(rng.uniform(0.2, 0.8)) for n in space.keys()}
        self._penalty = {}
        for n in space.keys():
            hp = space[n]
            choices = getattr(hp, "choices", None) or getattr(hp, "sequence", None)
            if choices is not None and len(choices) > 1:
                pen = rng.uniform(0.0, 0.3, size=len(choices))
                pen[int(rng.integers(len(choices)))] = 0.0
                self._penalty[n] = {str(c): float(p) for c, p in zip(choices, pen)}

    def _unit(self, name: str, value: Any) -> float:
        hp = self.space[name]
        return float(hp.to_vector(value)) if hasattr(hp, "to_vector") else 0.5

    def _mean(self, config: Mapping[str, Any], budget: float) -> float:
        v = 0.05
        for name, value in config.items():
            if name not in self.space:
                raise UsageError(f"unknown hyperparameter {name!r}")
            if name in self._penalty:
                v += self._penalty[name].get(str(value), 0.0)
            elif not isinstance(value, (str, bool)):
                v += (self._unit(name, value) - self._centre[name]) ** 2
        return v + 0.3 / float(budget)

    def evaluate(self, config, budget, seed, *, mode="scratch", resume_from=None, curve=False) -> Result:
        self.check_call(budget, mode, resume_from)
        mean = self._mean(config, budget)
        from mfbench.training.space import config_id

        # a continued training is one training: one noise draw for all its rungs (as a table's seed)
        key = self.max_budget if mode == "continue" else int(budget)
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(config_id(config), 16) & 0xFFFFFFFF, key])
        val = mean + (self.noise * float(rng.normal()) if self.noise else 0.0)
        epochs = budget - (resume_from or 0) if mode == "continue" else budget
        return Result(val_error=val, cost_seconds=epochs * self.seconds_per_epoch, cost_epochs=int(epochs),
                      metrics={"test_error": mean + 0.01}, training_seed=int(seed))

    def true_value(self, config):
        m = self._mean(config, self.max_budget)
        return m, m + 0.01

    def full_budget_cost(self) -> float:
        return self.max_budget * self.seconds_per_epoch

    @property
    def optimum(self) -> dict[str, float]:
        best = 0.05 + 0.3 / self.max_budget
        return {"val_error": best, "test_error": best + 0.01}


def finite_or(value: float, default: float) -> float:
    return value if value is not None and math.isfinite(value) else default


# --------------------------------------------------------------------------------------
# Stable, vectorized hashing: which recorded seed a tabular query reads, which noise draw a
# surrogate query gets. Python's hash() is salted per process; this is splitmix64.
# --------------------------------------------------------------------------------------

_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)


def _u64(x: Any) -> np.ndarray:
    if isinstance(x, (int, np.integer)) and not isinstance(x, np.ndarray):
        return np.atleast_1d(np.uint64(int(x) & _MASK64))
    a = np.atleast_1d(np.asarray(x))
    if a.dtype == object:
        return np.array([int(v) & _MASK64 for v in a], dtype=np.uint64)
    return a.astype(np.uint64)


def _splitmix(z: np.ndarray) -> np.ndarray:
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MUL1
    z = (z ^ (z >> np.uint64(27))) * _MUL2
    return z ^ (z >> np.uint64(31))


def mix64(*parts: Any) -> np.ndarray:
    """A stable 64-bit hash of integer columns (broadcast), the same in every process."""
    cols = np.broadcast_arrays(*(_u64(p) for p in parts))
    h = np.zeros(cols[0].shape, dtype=np.uint64)
    for c in cols:
        h = _splitmix(h ^ c)
    return h


def _splitmix_py(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def mix64_int(*parts: int) -> int:
    """``mix64`` of scalars in plain Python ints (a tenth of the cost of numpy for one value)."""
    h = 0
    for p in parts:
        h = _splitmix_py(h ^ (int(p) & _MASK64))
    return h


def row_hash(X: np.ndarray) -> np.ndarray:
    """A stable 64-bit hash of each row of a float64 matrix (its bit patterns)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    bits = X.view(np.uint64)
    h = np.zeros(X.shape[0], dtype=np.uint64)
    for k in range(X.shape[1]):
        h = _splitmix(h ^ bits[:, k])
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


def _noise_mode(noise: str) -> str:
    if noise not in ("sample", "mean"):
        raise UsageError(f"noise must be 'sample' or 'mean', got {noise!r}")
    return noise


# --------------------------------------------------------------------------------------
# Tabular
# --------------------------------------------------------------------------------------


def table_space(meta: Mapping[str, Any]) -> ConfigurationSpace:
    """The search space a table was collected on: its stored ConfigSpace JSON, else its name."""
    import json

    from mfbench.training.space import get_space, space_from_json

    sj = meta.get("space_json")
    if sj:
        return space_from_json(sj if isinstance(sj, str) else json.dumps(sj))
    return get_space(str(meta.get("space_name", "")))


class TabularObjective(Objective):
    """Exact lookups in a table's dense arrays.

    ``scratch`` at budget ``b`` reads epoch ``b`` of the run whose LR schedule lasts ``b``
    epochs and costs its cumulative train + eval seconds; ``continue`` reads epoch ``b`` of the
    longest schedule and costs only epochs ``resume_from + 1 .. b``. With ``noise="sample"``
    each query reads one recorded training seed, chosen by a stable hash of ``(seed,
    config_id, budget)`` (``max_budget`` in place of ``budget`` for ``continue``, so that one
    seed follows one training as it is resumed); ``noise="mean"`` averages the seeds.

    A run that failed reads as chance-level error (``1 - 1/n_classes``) with status
    ``failed``; epochs after a divergence read as chance (status ``diverged``). Only configs
    with every (seed, schedule) recorded are served. A table on a discrete space must cover
    the whole grid (``allow_partial=True`` relaxes that, e.g. for a table still being
    collected); on a continuous space the objective serves the finite list ``configs``.
    """

    kind = "tabular"

    def __init__(self, table: Any, noise: str = "sample", *, name: str | None = None, allow_partial: bool = False):
        from mfbench.training.classmetrics import macro_prf, table_test_confusions
        from mfbench.training.space import config_id, grid_values, iter_grid
        from mfbench.tables.table import MISSING, Table, load_table

        self.noise = _noise_mode(noise)
        T = table if isinstance(table, Table) else load_table(table)
        self.table = T
        self.path = T.path
        self.name = name or str(T.meta.get("benchmark") or Path(T.path).stem)
        self.budgets = [int(b) for b in T.budgets]
        self.space = table_space(T.meta)
        self.n_classes = T.n_classes
        complete = (T.status != MISSING).all(axis=(1, 2)) if T.status.size else np.zeros(0, dtype=bool)
        try:
            grid_values(self.space)
            self.is_grid = True
        except UsageError:
            self.is_grid = False
        if self.is_grid:
            grid = list(iter_grid(self.space))
            lacking = [c for c in grid if not (config_id(c) in T.index and complete[T.index[config_id(c)]])]
            if lacking and not allow_partial:
                raise UsageError(
                    f"{T.path} covers {len(grid) - len(lacking)} of the {len(grid)} points of its grid space "
                    f"{self.space.name!r} (first missing: {config_id(lacking[0])}); a tabular benchmark must "
                    "cover its whole space (allow_partial=True to use it anyway)"
                )
        rows = np.flatnonzero(complete)
        if rows.size == 0:
            raise UsageError(f"{T.path}: no configuration has every seed and schedule recorded")
        if rows.size < len(T.config_ids):
            log.info("%s: serving %d of %d configs (the others lack runs)", self.name, rows.size, len(T.config_ids))
        self.configs = [T.configs[i] for i in rows]
        self.config_ids = [T.config_ids[i] for i in rows]
        self._id_index = {cid: i for i, cid in enumerate(self.config_ids)}
        self._key_index: dict[frozenset, int] = {}
        for i, c in enumerate(self.configs):
            try:
                self._key_index[frozenset(c.items())] = i
            except TypeError:
                pass
        self._cid_int = [int(c, 16) for c in self.config_ids]
        self._cid64 = np.array(self._cid_int, dtype=np.uint64)
        m = T.metrics
        acc = lambda f: m[f][rows]  # noqa: E731
        self._arrays = {
            "val_error": 1.0 - acc("val_acc"), "test_error": 1.0 - acc("test_acc"),
            "val_f1": acc("val_f1"), "test_f1": acc("test_f1"), "train_loss": acc("train_loss"),
            "val_loss": acc("val_loss"), "test_loss": acc("test_loss"),
        }  # fmt: skip
        secs = np.nan_to_num(acc("train_seconds") + acc("eval_seconds"), nan=0.0)
        C, S, B, E = secs.shape
        self._cum = np.concatenate([np.zeros((C, S, B, 1)), np.cumsum(secs, axis=3)], axis=3)  # [..., e] = first e epochs
        self._stack = np.stack([self._arrays[f] for f in REPORTED], axis=-1)  # (C, S, B, E, K)
        self._status = T.status[rows]
        self._n_epochs = T.n_epochs[rows]
        self._chance = 1.0 - 1.0 / self.n_classes
        self._bidx = np.full(int(T.budgets.max()) + 1, -1, dtype=np.intp)
        self._bidx[T.budgets] = np.arange(B)
        self._n_seeds = S
        self._seed_values = [int(x) for x in T.seeds]  # seed index -> the recorded training seed
        self._bidx_list = self._bidx.tolist()
        jm, em = B - 1, E - 1
        failed = self._status[:, :, jm] == _FAILED
        self._true_val = np.where(failed, self._chance, self._arrays["val_error"][:, :, jm, em]).mean(axis=1)
        self._true_test = np.where(failed, self._chance, self._arrays["test_error"][:, :, jm, em]).mean(axis=1)
        self._best = int(np.argmin(self._true_val))
        self.optimum_config = self.configs[self._best]
        # test confusion matrices of the full-length runs (epoch max_budget), and their macro
        # precision / recall / F1: (C, S, K, K) and (C, S, 3); NaN where a run has none
        cms = table_test_confusions(T)
        self._test_cm = cms[rows][:, :, jm] if cms is not None else None
        self._prf_top = np.stack(macro_prf(self._test_cm), axis=-1) if self._test_cm is not None else None
        self._full_cost = float(np.median(self._cum[:, :, jm, E].mean(axis=1)))

    def class_metrics(self, config: Mapping[str, Any]) -> dict[str, Any] | None:
        """Test macro precision, recall, F1 and the confusion matrix of ``config`` at the largest
        budget (the full-length runs' last epoch), noise-free: metrics averaged over the recorded
        seeds, matrices summed. ``None`` when the table records no confusion matrix for it."""
        if self._test_cm is None:
            return None
        row = self.row_of(config)
        have = ~np.isnan(self._test_cm[row]).any(axis=(1, 2))
        if not have.any():
            return None
        prf = self._prf_top[row][have].mean(axis=0)
        return {"test_precision": float(prf[0]), "test_recall": float(prf[1]), "test_f1": float(prf[2]),
                "test_confusion": self._test_cm[row][have].sum(axis=0).astype(int).tolist(),
                "epoch": self.max_budget, "n_seeds": int(have.sum())}

    def _add_prf(self, res: Result, row: int, s: int | None) -> None:
        """A result at the largest budget also carries test macro precision and recall from the
        confusion matrix of the run it read (its F1 is ``test_f1``, recorded per epoch) (``s`` None: the mean over seeds, noise="mean")."""
        if self._prf_top is None or res.status != "ok":
            return
        v = self._prf_top[row, s] if s is not None else np.nanmean(self._prf_top[row], axis=0)
        if np.isfinite(v).all():
            res.metrics.update(test_precision=float(v[0]), test_recall=float(v[1]))

    # -- lookups ------------------------------------------------------------------------

    def row_of(self, config: Mapping[str, Any]) -> int:
        """Index of ``config`` among ``configs``; ``UsageError`` if the table lacks it."""
        try:
            return self._key_index[frozenset(config.items())]
        except (KeyError, TypeError):
            pass
        from mfbench.training.space import config_id

        cid = config_id(config)
        i = self._id_index.get(cid)
        if i is None:
            raise UsageError(f"configuration {cid} is not in the table {self.name!r} "
                             f"({len(self.configs)} configs; a tabular objective only knows its own)")  # fmt: skip
        return i

    def rows_of(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return np.fromiter((self.row_of(c) for c in configs), dtype=np.intp, count=len(configs))

    def lookup(self, rows: Any, budget: Any, seeds: Any, mode: str = "scratch", resume_from: Any = None,
               fields: Sequence[str] = ("val_error", "test_error")) -> dict[str, np.ndarray]:
        """The vectorized core: arrays of ``fields`` plus ``cost_seconds``, ``cost_epochs``,
        ``status`` (codes of ``mfbench.training.train.STATUSES``) for rows x budgets x seeds, and (``noise="sample"``)
        ``seed_index``: which recorded seed each query read (``_results`` turns it into ``training_seed``)."""
        rows = np.atleast_1d(np.asarray(rows, dtype=np.intp))
        n = rows.shape[0]
        b = np.broadcast_to(np.atleast_1d(np.asarray(budget, dtype=np.intp)), (n,))
        if mode not in MODES:
            raise UsageError(f"mode must be one of {MODES}, got {mode!r}")
        if b.min() < 1 or b.max() > self.max_budget:
            raise UsageError(f"budget outside 1..{self.max_budget}")
        r = np.zeros(n, dtype=np.intp) if resume_from is None else np.broadcast_to(
            np.atleast_1d(np.asarray(resume_from, dtype=np.intp)), (n,))  # fmt: skip
        if mode == "scratch":
            j = self._bidx[b]
            if (j < 0).any():
                raise UsageError(f"a table has scratch trainings only at the ladder budgets {self.budgets}")
            r = np.zeros(n, dtype=np.intp)
            hb = b
        else:
            if (r < 0).any() or (r > b).any():
                raise UsageError("resume_from must be between 0 and the budget")
            j = np.full(n, len(self.budgets) - 1, dtype=np.intp)
            hb = np.full(n, self.max_budget, dtype=np.intp)
        e = b - 1
        out: dict[str, np.ndarray] = {}
        if self.noise == "sample":
            s = (mix64(seeds, self._cid64[rows], hb) % np.uint64(self._n_seeds)).astype(np.intp)
            s = np.broadcast_to(s, (n,))
            for f in fields:
                out[f] = self._arrays[f][rows, s, j, e]
            out["cost_seconds"] = self._cum[rows, s, j, b] - self._cum[rows, s, j, r]
            st = self._status[rows, s, j]
            ne = self._n_epochs[rows, s, j]
            out["seed_index"] = s
        else:
            for f in fields:
                out[f] = self._arrays[f][rows, :, j, e].mean(axis=1) if n else np.zeros(0)
            out["cost_seconds"] = (self._cum[rows, :, j, b] - self._cum[rows, :, j, r]).mean(axis=1)
            st_all = self._status[rows, :, j]
            ok_any = ((st_all == _OK) | ((st_all == _DIVERGED) & (self._n_epochs[rows, :, j] > e[:, None]))).any(axis=1)
            st = np.where(ok_any, _OK, np.where((st_all == _DIVERGED).any(axis=1), _DIVERGED, _FAILED))
            ne = np.zeros(n, dtype=np.intp)  # the status above already accounts for divergence
        # a divergence after the epoch read does not concern this query
        st = np.where((st == _DIVERGED) & (ne > b), _OK, st)
        # a failed run has no result (chance is a placeholder the failure policy never reads); a
        # network that diverged before the epoch read predicts at chance: that is its real error
        for f in fields:
            if f.endswith("_error"):
                unread = (st == _FAILED) | ((st == _DIVERGED) & np.isnan(out[f]))
                out[f] = np.where(unread, self._chance, out[f])
        out["cost_epochs"] = b - r
        out["status"] = st
        return out

    def _results(self, out: dict[str, np.ndarray]) -> list[Result]:
        from mfbench.training.records import STATUSES

        val = out["val_error"].tolist()
        cost = out["cost_seconds"].tolist()
        ep = out["cost_epochs"].tolist()
        st = out["status"].tolist()
        seeds = self._seed_values
        ts = [seeds[s] for s in out["seed_index"].tolist()] if "seed_index" in out else [None] * len(val)
        own = ("val_error", "cost_seconds", "cost_epochs", "status", "seed_index")
        extra = [(k, out[k].tolist()) for k in out if k not in own]
        return [Result(val[i], cost[i], ep[i], {k: v[i] for k, v in extra}, STATUSES[st[i]], training_seed=ts[i])
                for i in range(len(val))]  # fmt: skip

    def evaluate(self, config, budget, seed, *, mode="scratch", resume_from=None, curve=False) -> Result:
        self.check_call(budget, mode, resume_from)
        row = self.row_of(config)
        if self.noise == "sample":  # the scalar path: plain ints, one fancy index (~ a few µs)
            b = int(budget)
            if mode == "scratch":
                j = self._bidx_list[b] if b < len(self._bidx_list) else -1
                if j < 0:
                    raise UsageError(f"a table has scratch trainings only at the ladder budgets {self.budgets}")
                r, hb = 0, b
            else:
                j, r, hb = len(self.budgets) - 1, int(resume_from or 0), self.max_budget
            s = mix64_int(seed, self._cid_int[row], hb) % self._n_seeds
            v = self._stack[row, s, j, b - 1].tolist()
            st = int(self._status[row, s, j])
            if st == _DIVERGED and int(self._n_epochs[row, s, j]) > b:
                st = _OK
            if st == _FAILED:
                v[0] = v[1] = self._chance
            elif st == _DIVERGED:  # diverged before epoch b: the network predicts at chance
                v[0], v[1] = (self._chance if x != x else x for x in v[:2])
            cost = float(self._cum[row, s, j, b] - self._cum[row, s, j, r])
            from mfbench.training.records import STATUSES

            res = Result(v[0], cost, b - r, dict(zip(REPORTED[1:], v[1:])), STATUSES[st],
                         training_seed=self._seed_values[s])
            if b == self.max_budget:
                self._add_prf(res, row, s)
        else:
            res = self._results(self.lookup(row, budget, seed, mode, resume_from, REPORTED))[0]
        if curve:
            res.curve = self._curve(row, int(budget), seed, mode)
        return res

    def evaluate_batch(self, configs, budget, seeds, **kw) -> list[Result]:
        curve = kw.pop("curve", False)
        mode = kw.get("mode", "scratch")
        self.check_call(budget, mode, kw.get("resume_from"))
        rows = self.rows_of(configs)
        out = self.lookup(rows, budget, np.asarray(list(seeds)), mode, kw.get("resume_from"), REPORTED)
        res = self._results(out)
        if int(budget) == self.max_budget:
            index = out["seed_index"].tolist() if "seed_index" in out else [None] * len(res)
            for r, row, s in zip(res, rows, index):
                self._add_prf(r, int(row), s)
        if curve:
            for r, row, s in zip(res, rows, seeds):
                r.curve = self._curve(int(row), int(budget), s, mode)
        return res

    def _curve(self, row: int, budget: int, seed: int, mode: str) -> dict[str, list[float]]:
        j = len(self.budgets) - 1 if mode == "continue" else int(self._bidx[budget])
        hb = self.max_budget if mode == "continue" else budget
        if self.noise == "sample":
            s = int(mix64(seed, self._cid64[row], hb)[0] % np.uint64(self._n_seeds))
            pick = lambda a: a[row, s, j, :budget]  # noqa: E731
            cum = self._cum[row, s, j, 1 : budget + 1]
        else:
            pick = lambda a: a[row, :, j, :budget].mean(axis=0)  # noqa: E731
            cum = self._cum[row, :, j, 1 : budget + 1].mean(axis=0)
        return {"epoch": list(range(1, budget + 1)), "val_error": pick(self._arrays["val_error"]).tolist(),
                "test_error": pick(self._arrays["test_error"]).tolist(), "cum_seconds": cum.tolist()}  # fmt: skip

    # -- reference values ---------------------------------------------------------------

    def true_value(self, config: Mapping[str, Any]) -> tuple[float, float]:
        i = self.row_of(config)
        return float(self._true_val[i]), float(self._true_test[i])

    def full_budget_cost(self) -> float:
        return self._full_cost

    @property
    def optimum(self) -> dict[str, float]:
        return {"val_error": float(self._true_val[self._best]), "test_error": float(self._true_test[self._best])}

    @property
    def bounds(self) -> dict[str, float]:
        return {"best": float(self._true_val[self._best]), "worst": float(self._true_val.max())}

    def manifest(self) -> dict[str, Any]:
        from mfbench.surrogates.data import table_digest

        return {"name": self.name, "kind": self.kind, "path": str(self.path), "noise": self.noise,
                "n_configs": len(self.configs), "budgets": self.budgets,
                "data_sha256": table_digest(self.table)}  # fmt: skip


# --------------------------------------------------------------------------------------
# Surrogate
# --------------------------------------------------------------------------------------


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

    def __init__(self, surrogate: Any, noise: str = "sample", *, name: str | None = None,
                 threads: int | None = None, cache_size: int = 100_000, restrict_to: Any = None):  # fmt: skip
        """``restrict_to``: a table (a tabular benchmark of a grid): serve only its
        configurations, with its space, and the optimum, worst value and full-budget cost
        over them: the surrogate's twin of that table, to compare optimizer rankings on both."""
        from mfbench.surrogates.model import Surrogate, load_surrogate

        self.noise = _noise_mode(noise)
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
        P = self.surrogate.predict_rows(self.encoder.rows(Xc, mb, mb))
        val, test = P["val_error"], P[self._test_key]
        i = int(np.argmin(val))
        self.space = tab.space
        self.restricted_to = str(tab.path)
        self._ref = {"optimum": {"val_error": float(val[i]), "test_error": float(test[i])},
                     "optimum_config": dict(tab.configs[i]), "worst_val_error": float(np.max(val)),
                     "full_budget_cost": float(np.median(P[self._cost_key]) * mb), "n_configs": len(tab.configs)}

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

    def _combine(self, P: dict[str, np.ndarray], pts: list, n: int) -> tuple[np.ndarray, ...]:
        val = np.zeros(n)
        test = np.zeros(n)
        std = np.zeros(n)
        spe = np.zeros(n)
        for k, (_, _, w) in enumerate(pts):
            sl = slice(k * n, (k + 1) * n)
            val += w * P["val_error"][sl]
            test += w * P[self._test_key][sl]
            std += w * P[self._noise_key][sl]
            spe += w * P[self._cost_key][sl]
        return val, test, std, spe

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
        val, test, std, spe = self._combine(self.surrogate.predict_few(X), pts, 1)
        h = row_hash_one(x)
        out = (float(val[0]), float(test[0]), float(std[0]), float(spe[0]), h)
        if key is not None:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[key] = out
        return out

    def evaluate(self, config, budget, seed, *, mode="scratch", resume_from=None, curve=False) -> Result:
        self.check_call(budget, mode, resume_from)
        val, test, std, spe, h = self._means_one(config, budget, mode)
        if self.noise == "sample" and std > 0:
            z = float(standard_normal(np.atleast_1d(np.uint64(mix64_int(seed, h, self._noise_budget(budget, mode)))))[0])
            val, test = min(max(val + std * z, 0.0), 1.0), min(max(test + std * z, 0.0), 1.0)
        epochs = budget - (resume_from or 0) if mode == "continue" else budget
        res = Result(val, spe * epochs, int(epochs), {"test_error": test},
                     training_seed=int(seed) if self.noise == "sample" else None)
        if curve:
            res.curve = self._curve(config, budget, mode)
        return res

    def _noise_budget(self, budget: float, mode: str) -> int:
        # continue: one draw per training, however far it is resumed (as for a table's seed)
        return self.max_budget if mode == "continue" else int(round(float(budget) * 1000))

    def predict_arrays(self, configs: Sequence[Mapping[str, Any]], budget: float, seeds: Any,
                       mode: str = "scratch", resume_from: Any = None) -> dict[str, np.ndarray]:  # fmt: skip
        """The vectorized core: ``val_error``, ``test_error``, ``cost_seconds``, ``cost_epochs``
        (and the noise-free ``val_mean``) for many configs at one budget."""
        self.check_call(budget, mode, None if np.ndim(resume_from) else resume_from)
        Xc = self.encoder.encode_configs(configs)
        n = Xc.shape[0]
        pts = self._points(budget, mode)
        X = np.concatenate([self.encoder.rows(Xc, e, s) for e, s, _ in pts])
        val, test, std, spe = self._combine(self.surrogate.predict_rows(X), pts, n)
        out = {"val_mean": val.copy(), "test_mean": test.copy()}
        if self.noise == "sample":
            z = standard_normal(mix64(np.asarray(seeds), row_hash(Xc), self._noise_budget(budget, mode)))
            z = np.where(std > 0, z, 0.0)
            val = np.clip(val + std * z, 0.0, 1.0)
            test = np.clip(test + std * z, 0.0, 1.0)
        r = 0 if resume_from is None or mode == "scratch" else np.asarray(resume_from)
        epochs = np.broadcast_to(np.asarray(budget) - r, (n,))
        out.update(val_error=val, test_error=test, cost_seconds=spe * epochs, cost_epochs=epochs)
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
            P = self.surrogate.predict_rows(self.encoder.rows(np.repeat(x, len(epochs), 0), epochs, sched))
            val, test, spe = P["val_error"], P[self._test_key], P[self._cost_key]
        else:  # off-ladder schedule: the scratch prediction at each epoch
            vals = [self._means_one(config, e, "scratch") for e in epochs]
            val, test, spe = (np.array([v[k] for v in vals]) for k in (0, 1, 3))
        return {"epoch": epochs, "val_error": val.tolist(), "test_error": test.tolist(),
                "cum_seconds": (spe * np.asarray(epochs)).tolist()}  # fmt: skip

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
        return {"name": self.name, "kind": self.kind, "path": str(self.surrogate.path or ""), "noise": self.noise,
                "data_sha256": m["table"]["data_sha256"], "models": {k: {kk: v.get(kk) for kk in ("family", "sha256")}
                                                                     for k, v in m["models"].items()},
                "versions": m.get("versions", {}),
                **({"restricted_to": self.restricted_to} if self.restricted_to else {})}  # fmt: skip


# --------------------------------------------------------------------------------------
# Real
# --------------------------------------------------------------------------------------


class RealObjective(Objective):
    """Trains now (``mfbench.training.train.train_trial``) and, with ``db``, appends the run to that
    table (created with the same metadata ``collect`` writes if it does not exist).

    Cost = the measured train + eval seconds of the epochs paid for. ``continue`` has no
    checkpoint to resume from (the training core keeps none): it retrains the prefix of the
    longest schedule deterministically (same seed, same result) and charges only the measured
    seconds of epochs ``resume_from + 1 .. budget``; only complete schedules are written to the
    table (a prefix is not a run of the table). ``true_value`` is the observed seed-mean at the
    largest budget if the config has been trained there (in the table or in this process),
    else NaN; ``optimum`` and ``bounds`` are the best and worst such observations.
    """

    kind = "real"

    def __init__(self, dataset: str = "digits", space: str = "cnn", db: str | Path | None = None,
                 device: str = "cpu", budgets: Sequence[int] = (1, 3, 9, 27), *, data_dir: str | None = None,
                 folds: int = 0, name: str | None = None, benchmark: str | None = None):  # fmt: skip
        from mfbench.training.space import get_space

        self.dataset, self.space_name, self.device = dataset, space, device
        self.data_dir, self.folds = data_dir, int(folds)
        self.space = get_space(space)
        self.budgets = sorted(int(b) for b in budgets)
        self.name = name or f"{dataset}-{space}-real"
        self.db = Path(db) if db is not None else None
        self.benchmark = benchmark or (self.db.stem if self.db else self.name)
        self._ds = None
        self._writer = None
        self._observed: dict[str, dict[int, tuple[float, float]]] = {}  # config_id -> seed -> (val, test)

    def _dataset(self) -> Any:
        if self._ds is None:
            from mfbench.training.data import load_dataset

            self._ds = load_dataset(self.dataset, self.data_dir, 0, self.folds)
        return self._ds

    def _table_writer(self) -> Any:
        if self._writer is None and self.db is not None:
            from mfbench.tables.collect import table_meta
            from mfbench.tables.table import TableWriter

            meta = table_meta(self.dataset, self.space_name, self.budgets, self._dataset(), self.folds, self.benchmark)
            self._writer = TableWriter.open(self.db, meta)
        return self._writer

    def evaluate(self, config, budget, seed, *, mode="scratch", resume_from=None, curve=False) -> Result:
        from mfbench.training.space import validate_config
        from mfbench.training.train import train_trial

        self.check_call(budget, mode, resume_from)
        cfg = validate_config(self.space, config)
        b = int(budget)
        sched = b if mode == "scratch" else self.max_budget
        r = int(resume_from or 0) if mode == "continue" else 0
        writer = self._table_writer()
        trial = train_trial(cfg, self._dataset(), int(seed), sched, device=self.device, epochs=b)
        recs = trial.epochs
        chance = 1.0 - 1.0 / self._dataset().n_classes
        if trial.status == "failed" or not recs:
            val = test = chance
        elif len(recs) < b:  # diverged before the budget: the model is worth chance
            val = test = chance
        else:
            val, test = 1.0 - recs[b - 1].val_acc, 1.0 - recs[b - 1].test_acc
        cost = float(sum(e.train_seconds + e.eval_seconds for e in recs[r:b]))
        if writer is not None and b == sched:
            writer.write(trial)
        if b == self.max_budget and mode == "scratch":
            self._observed.setdefault(trial.config_id, {})[int(seed)] = (val, test)
        metrics = {"test_error": test}
        if recs and len(recs) >= b:
            metrics.update(val_f1=recs[b - 1].val_f1, test_f1=recs[b - 1].test_f1)
        res = Result(val, cost, b - r, metrics, trial.status, training_seed=int(seed))
        if curve:
            res.curve = {"epoch": [e.epoch for e in recs], "val_error": [1 - e.val_acc for e in recs],
                         "test_error": [1 - e.test_acc for e in recs],
                         "cum_seconds": np.cumsum([e.train_seconds + e.eval_seconds for e in recs]).tolist()}  # fmt: skip
        return res

    def _observations(self) -> dict[str, dict[int, tuple[float, float]]]:
        """Seed -> (val, test) at the largest budget, scratch, per config id: the table's
        runs plus this process's."""
        obs: dict[str, dict[int, tuple[float, float]]] = {}
        if self.db is not None and self.db.exists():
            from mfbench.core.io import connect_readonly

            con = connect_readonly(self.db)
            try:
                rows = con.execute(
                    "SELECT r.config_id, r.seed, e.val_acc, e.test_acc FROM runs r JOIN epochs e ON e.run_id = r.run_id"
                    " WHERE r.schedule_epochs = ? AND e.epoch = ? AND r.status = 'ok'",
                    (self.max_budget, self.max_budget),
                ).fetchall()
            finally:
                con.close()
            for cid, seed, va, ta in rows:
                obs.setdefault(cid, {})[int(seed)] = (1.0 - va, 1.0 - ta)
        for cid, d in self._observed.items():
            obs.setdefault(cid, {}).update(d)
        return obs

    def true_value(self, config: Mapping[str, Any]) -> tuple[float, float]:
        from mfbench.training.space import config_id

        d = self._observations().get(config_id(config))
        if not d:
            return math.nan, math.nan
        v = np.array(list(d.values()))
        return float(v[:, 0].mean()), float(v[:, 1].mean())

    def _means(self) -> np.ndarray:
        obs = self._observations()
        return np.array([np.mean(list(d.values()), axis=0) for d in obs.values()]) if obs else np.zeros((0, 2))

    @property
    def optimum(self) -> dict[str, float]:
        m = self._means()
        if not len(m):
            return {"val_error": math.nan, "test_error": math.nan}
        i = int(np.argmin(m[:, 0]))
        return {"val_error": float(m[i, 0]), "test_error": float(m[i, 1])}

    @property
    def bounds(self) -> dict[str, float]:
        m = self._means()
        return {"best": float(m[:, 0].min()) if len(m) else math.nan, "worst": float(m[:, 0].max()) if len(m) else math.nan}

    def full_budget_cost(self) -> float:
        """Median seconds of the full-budget trainings recorded so far."""
        costs = []
        if self.db is not None and self.db.exists():
            from mfbench.core.io import connect_readonly

            con = connect_readonly(self.db)
            try:
                costs = [c for (c,) in con.execute(
                    "SELECT SUM(e.train_seconds + e.eval_seconds) FROM runs r JOIN epochs e ON e.run_id = r.run_id"
                    " WHERE r.schedule_epochs = ? AND r.status = 'ok' GROUP BY r.run_id", (self.max_budget,))]  # fmt: skip
            finally:
                con.close()
        if not costs:
            raise UsageError(f"{self.name}: no full-budget training recorded yet; give the budget in seconds")
        return float(np.median(costs))

    def manifest(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "dataset": self.dataset, "space": self.space_name,
                "device": self.device, "budgets": self.budgets, "db": str(self.db) if self.db else None}  # fmt: skip

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
