"""The real objective: trains now, and appends every complete run to its table."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mfbench.core.errors import UsageError
from mfbench.core.types import Result
from mfbench.objectives.base import Objective

log = logging.getLogger(__name__)


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

    def __init__(
        self,
        dataset: str = "digits",
        space: str = "cnn",
        db: str | Path | None = None,
        device: str = "cpu",
        budgets: Sequence[int] = (1, 3, 9, 27),
        *,
        data_dir: str | None = None,
        folds: int = 0,
        name: str | None = None,
        benchmark: str | None = None,
    ):
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
            from mfbench.tables.table import TableWriter, table_meta

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
            res.curve = {
                "epoch": [e.epoch for e in recs],
                "val_error": [1 - e.val_acc for e in recs],
                "test_error": [1 - e.test_acc for e in recs],
                "cum_seconds": np.cumsum([e.train_seconds + e.eval_seconds for e in recs]).tolist(),
            }
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
        return {
            "best": float(m[:, 0].min()) if len(m) else math.nan,
            "worst": float(m[:, 0].max()) if len(m) else math.nan,
        }

    def full_budget_cost(self) -> float:
        """Median seconds of the full-budget trainings recorded so far."""
        costs = []
        if self.db is not None and self.db.exists():
            from mfbench.core.io import connect_readonly

            con = connect_readonly(self.db)
            try:
                costs = [
                    c
                    for (c,) in con.execute(
                        "SELECT SUM(e.train_seconds + e.eval_seconds) FROM runs r JOIN epochs e ON e.run_id = r.run_id"
                        " WHERE r.schedule_epochs = ? AND r.status = 'ok' GROUP BY r.run_id",
                        (self.max_budget,),
                    )
                ]
            finally:
                con.close()
        if not costs:
            raise UsageError(f"{self.name}: no full-budget training recorded yet; give the budget in seconds")
        return float(np.median(costs))

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "dataset": self.dataset,
            "space": self.space_name,
            "device": self.device,
            "budgets": self.budgets,
            "db": str(self.db) if self.db else None,
        }

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
