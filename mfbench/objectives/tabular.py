"""The tabular objective: exact lookups in a learning-curve table's dense arrays."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ConfigSpace import ConfigurationSpace

from mfbench.core.errors import UsageError
from mfbench.core.seeds import mix64, mix64_int
from mfbench.core.types import DIVERGED, FAILED, MODES, OK, REPORTED, STATUSES, Result
from mfbench.objectives.base import Objective, _noise_mode

log = logging.getLogger(__name__)


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
        from mfbench.tables.table import MISSING, Table, load_table
        from mfbench.training.classmetrics import macro_prf, table_test_confusions
        from mfbench.training.space import config_id, grid_values, iter_grid

        self.noise = _noise_mode(noise)
        self.deterministic = self.noise == "mean"  # the mean over the recorded seeds
        tab = table if isinstance(table, Table) else load_table(table)
        self.table = tab
        self.path = tab.path
        self.name = name or str(tab.meta.get("benchmark") or Path(tab.path).stem)
        self.budgets = [int(b) for b in tab.budgets]
        self.space = table_space(tab.meta)
        self.n_classes = tab.n_classes
        complete = (tab.status != MISSING).all(axis=(1, 2)) if tab.status.size else np.zeros(0, dtype=bool)
        try:
            grid_values(self.space)
            self.is_grid = True
        except UsageError:
            self.is_grid = False
        if self.is_grid:
            grid = list(iter_grid(self.space))
            lacking = [c for c in grid if not (config_id(c) in tab.index and complete[tab.index[config_id(c)]])]
            if lacking and not allow_partial:
                raise UsageError(
                    f"{tab.path} covers {len(grid) - len(lacking)} of the {len(grid)} points of its grid space "
                    f"{self.space.name!r} (first missing: {config_id(lacking[0])}); a tabular benchmark must "
                    "cover its whole space (allow_partial=True to use it anyway)"
                )
        rows = np.flatnonzero(complete)
        if rows.size == 0:
            raise UsageError(f"{tab.path}: no configuration has every seed and schedule recorded")
        if rows.size < len(tab.config_ids):
            log.info("%s: serving %d of %d configs (the others lack runs)", self.name, rows.size, len(tab.config_ids))
        self.configs = [tab.configs[i] for i in rows]
        self.config_ids = [tab.config_ids[i] for i in rows]
        self._id_index = {cid: i for i, cid in enumerate(self.config_ids)}
        self._key_index: dict[frozenset, int] = {}
        for i, c in enumerate(self.configs):
            try:
                self._key_index[frozenset(c.items())] = i
            except TypeError:
                pass
        self._cid_int = [int(c, 16) for c in self.config_ids]
        self._cid64 = np.array(self._cid_int, dtype=np.uint64)
        m = tab.metrics
        acc = lambda f: m[f][rows]  # noqa: E731
        self._arrays = {
            "val_error": 1.0 - acc("val_acc"),
            "test_error": 1.0 - acc("test_acc"),
            "val_f1": acc("val_f1"),
            "test_f1": acc("test_f1"),
            "train_loss": acc("train_loss"),
            "val_loss": acc("val_loss"),
            "test_loss": acc("test_loss"),
        }
        secs = np.nan_to_num(acc("train_seconds") + acc("eval_seconds"), nan=0.0)
        n_configs, n_seeds, n_budgets, n_epochs = secs.shape
        self._cum = np.concatenate(
            [np.zeros((n_configs, n_seeds, n_budgets, 1)), np.cumsum(secs, axis=3)], axis=3
        )  # [..., e] = first e epochs
        self._stack = np.stack(
            [self._arrays[f] for f in REPORTED], axis=-1
        )  # (n_configs, n_seeds, n_budgets, n_epochs, K)
        self._status = tab.status[rows]
        self._n_epochs = tab.n_epochs[rows]
        self._chance = 1.0 - 1.0 / self.n_classes
        self._bidx = np.full(int(tab.budgets.max()) + 1, -1, dtype=np.intp)
        self._bidx[tab.budgets] = np.arange(n_budgets)
        self._n_seeds = n_seeds
        self._seed_values = [int(x) for x in tab.seeds]  # seed index -> the recorded training seed
        self._bidx_list = self._bidx.tolist()
        top_rung, last_epoch = n_budgets - 1, n_epochs - 1
        failed = self._status[:, :, top_rung] == FAILED
        self._true_val = np.where(failed, self._chance, self._arrays["val_error"][:, :, top_rung, last_epoch]).mean(
            axis=1
        )
        self._true_test = np.where(failed, self._chance, self._arrays["test_error"][:, :, top_rung, last_epoch]).mean(
            axis=1
        )
        self._best = int(np.argmin(self._true_val))
        self.optimum_config = self.configs[self._best]
        # test confusion matrices of the full-length runs (epoch max_budget), and their macro
        # precision / recall / F1: (n_configs, n_seeds, K, K) and (n_configs, n_seeds, 3); NaN where a run has none
        cms = table_test_confusions(tab)
        self._test_cm = cms[rows][:, :, top_rung] if cms is not None else None
        self._prf_top = np.stack(macro_prf(self._test_cm), axis=-1) if self._test_cm is not None else None
        self._full_cost = float(np.median(self._cum[:, :, top_rung, n_epochs].mean(axis=1)))

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
        return {
            "test_precision": float(prf[0]),
            "test_recall": float(prf[1]),
            "test_f1": float(prf[2]),
            "test_confusion": self._test_cm[row][have].sum(axis=0).astype(int).tolist(),
            "epoch": self.max_budget,
            "n_seeds": int(have.sum()),
        }

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
            raise UsageError(
                f"configuration {cid} is not in the table {self.name!r} "
                f"({len(self.configs)} configs; a tabular objective only knows its own)"
            )
        return i

    def rows_of(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return np.fromiter((self.row_of(c) for c in configs), dtype=np.intp, count=len(configs))

    def lookup(
        self,
        rows: Any,
        budget: Any,
        seeds: Any,
        mode: str = "scratch",
        resume_from: Any = None,
        fields: Sequence[str] = ("val_error", "test_error"),
    ) -> dict[str, np.ndarray]:
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
        r = (
            np.zeros(n, dtype=np.intp)
            if resume_from is None
            else np.broadcast_to(np.atleast_1d(np.asarray(resume_from, dtype=np.intp)), (n,))
        )
        if mode == "scratch":
            j = self._bidx[b]
            if (j < 0).any():
                raise UsageError(f"a table has scratch trainings only at the ladder budgets {self.budgets}")
            r = np.zeros(n, dtype=np.intp)
            hash_budget = b
        else:
            if (r < 0).any() or (r > b).any():
                raise UsageError("resume_from must be between 0 and the budget")
            j = np.full(n, len(self.budgets) - 1, dtype=np.intp)
            hash_budget = np.full(n, self.max_budget, dtype=np.intp)
        e = b - 1
        out: dict[str, np.ndarray] = {}
        if self.noise == "sample":
            s = (mix64(seeds, self._cid64[rows], hash_budget) % np.uint64(self._n_seeds)).astype(np.intp)
            s = np.broadcast_to(s, (n,))
            for f in fields:
                out[f] = self._arrays[f][rows, s, j, e]
            out["cost_seconds"] = self._cum[rows, s, j, b] - self._cum[rows, s, j, r]
            status = self._status[rows, s, j]
            epochs_run = self._n_epochs[rows, s, j]
            out["seed_index"] = s
        else:
            for f in fields:
                out[f] = self._arrays[f][rows, :, j, e].mean(axis=1) if n else np.zeros(0)
            out["cost_seconds"] = (self._cum[rows, :, j, b] - self._cum[rows, :, j, r]).mean(axis=1)
            statuses = self._status[rows, :, j]
            any_ok = ((statuses == OK) | ((statuses == DIVERGED) & (self._n_epochs[rows, :, j] > e[:, None]))).any(
                axis=1
            )
            status = np.where(any_ok, OK, np.where((statuses == DIVERGED).any(axis=1), DIVERGED, FAILED))
            epochs_run = np.zeros(n, dtype=np.intp)  # the status above already accounts for divergence
        # a divergence after the epoch read does not concern this query
        status = np.where((status == DIVERGED) & (epochs_run > b), OK, status)
        # a failed run has no result (chance is a placeholder the failure policy never reads); a
        # network that diverged before the epoch read predicts at chance: that is its real error
        for f in fields:
            if f.endswith("_error"):
                unread = (status == FAILED) | ((status == DIVERGED) & np.isnan(out[f]))
                out[f] = np.where(unread, self._chance, out[f])
        out["cost_epochs"] = b - r
        out["status"] = status
        return out

    def _results(self, out: dict[str, np.ndarray]) -> list[Result]:
        val = out["val_error"].tolist()
        cost = out["cost_seconds"].tolist()
        ep = out["cost_epochs"].tolist()
        status = out["status"].tolist()
        seeds = self._seed_values
        ts = [seeds[s] for s in out["seed_index"].tolist()] if "seed_index" in out else [None] * len(val)
        own = ("val_error", "cost_seconds", "cost_epochs", "status", "seed_index")
        extra = [(k, out[k].tolist()) for k in out if k not in own]
        return [
            Result(val[i], cost[i], ep[i], {k: v[i] for k, v in extra}, STATUSES[status[i]], training_seed=ts[i])
            for i in range(len(val))
        ]

    def evaluate(self, config, budget, seed, *, mode="scratch", resume_from=None, curve=False) -> Result:
        self.check_call(budget, mode, resume_from)
        row = self.row_of(config)
        if self.noise == "sample":  # the scalar path: plain ints, one fancy index (~ a few µs)
            b = int(budget)
            if mode == "scratch":
                j = self._bidx_list[b] if b < len(self._bidx_list) else -1
                if j < 0:
                    raise UsageError(f"a table has scratch trainings only at the ladder budgets {self.budgets}")
                r, hash_budget = 0, b
            else:
                j, r, hash_budget = len(self.budgets) - 1, int(resume_from or 0), self.max_budget
            s = mix64_int(seed, self._cid_int[row], hash_budget) % self._n_seeds
            v = self._stack[row, s, j, b - 1].tolist()
            status = int(self._status[row, s, j])
            if status == DIVERGED and int(self._n_epochs[row, s, j]) > b:
                status = OK
            if status == FAILED:
                v[0] = v[1] = self._chance
            elif status == DIVERGED:  # diverged before epoch b: the network predicts at chance
                v[0], v[1] = (self._chance if math.isnan(x) else x for x in v[:2])
            cost = float(self._cum[row, s, j, b] - self._cum[row, s, j, r])
            res = Result(
                v[0], cost, b - r, dict(zip(REPORTED[1:], v[1:])), STATUSES[status], training_seed=self._seed_values[s]
            )
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
        hash_budget = self.max_budget if mode == "continue" else budget
        if self.noise == "sample":
            s = int(mix64(seed, self._cid64[row], hash_budget)[0] % np.uint64(self._n_seeds))
            pick = lambda a: a[row, s, j, :budget]  # noqa: E731
            cum = self._cum[row, s, j, 1 : budget + 1]
        else:
            pick = lambda a: a[row, :, j, :budget].mean(axis=0)  # noqa: E731
            cum = self._cum[row, :, j, 1 : budget + 1].mean(axis=0)
        return {
            "epoch": list(range(1, budget + 1)),
            "val_error": pick(self._arrays["val_error"]).tolist(),
            "test_error": pick(self._arrays["test_error"]).tolist(),
            "cum_seconds": cum.tolist(),
        }

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

        return {
            "name": self.name,
            "kind": self.kind,
            "path": str(self.path),
            "noise": self.noise,
            "n_configs": len(self.configs),
            "budgets": self.budgets,
            "data_sha256": table_digest(self.table),
        }
