"""What a surrogate learns from: one row per (config, point on the learning curve).

A point is ``(epoch, schedule_epochs)`` with both on the ladder and ``epoch <= schedule``:
``(b, b)`` is a scratch training to ``b`` epochs, ``(b, max)`` the prefix of the longest
schedule (``continue``). Targets are seed means (the values per seed are kept for the noise
ceiling of the quality report); ``val_std`` is the spread over seeds (what the noise model
learns); ``seconds_per_epoch`` is per config (what the cost model learns).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from mfbench.tables.table import MISSING, Table

#: target name -> (table field, transform): errors are 1 - accuracy
TARGET_FIELDS = {
    "val_error": ("val_acc", True),
    "test_error": ("test_acc", True),
    "val_f1": ("val_f1", False),
    "test_f1": ("test_f1", False),
}
DEFAULT_TARGETS = ("val_error", "test_error")
NOISE_TARGET = "val_std"
COST_TARGET = "log_seconds_per_epoch"


@dataclass
class TrainingData:
    configs: list[dict[str, Any]]
    config_ids: list[str]
    row_config: np.ndarray  # (R,) index into configs
    epoch: np.ndarray  # (R,)
    schedule: np.ndarray  # (R,)
    y: dict[str, np.ndarray]  # target -> (R,) seed means; NOISE_TARGET -> seed std
    y_seeds: dict[str, np.ndarray]  # target -> (R, S) per seed, NaN where a seed has no run
    seconds_per_epoch: np.ndarray  # (C,) NaN where no epoch was timed
    budgets: list[int]
    digest: str

    @property
    def architectures(self) -> np.ndarray:
        return np.array([str(c.get("architecture", "all")) for c in self.configs], dtype=object)

    def is_scratch(self) -> np.ndarray:
        return self.epoch == self.schedule


def table_digest(table: Table) -> str:
    """SHA-256 of what a surrogate is fitted on (config ids, every metric, statuses), so that
    the same data gives the same hash whatever the SQLite file's layout, WAL or vacuum state."""
    h = hashlib.sha256()
    h.update("\n".join(table.config_ids).encode())
    h.update(np.ascontiguousarray(table.seeds, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(table.budgets, dtype=np.int64).tobytes())
    for name in sorted(table.metrics):
        h.update(name.encode())
        h.update(np.ascontiguousarray(table.metrics[name]).tobytes())
    h.update(np.ascontiguousarray(table.status).tobytes())
    return h.hexdigest()


def training_data(table: Table, targets: tuple[str, ...] = DEFAULT_TARGETS) -> TrainingData:
    budgets = [int(b) for b in table.budgets]
    have = table.status != MISSING  # (C, S, B)
    cols: dict[str, list[np.ndarray]] = {t: [] for t in (*targets, NOISE_TARGET)}
    per_seed: dict[str, list[np.ndarray]] = {t: [] for t in targets}
    rc, ep, sc = [], [], []
    C = len(table.config_ids)
    for j, sched in enumerate(budgets):
        mask = have[:, :, j]  # (C, S)
        n = mask.sum(axis=1)
        keep = np.flatnonzero(n > 0)
        for b in budgets:
            if b > sched:
                break
            for t in targets:
                field, is_error = TARGET_FIELDS[t]
                v = table.metrics[field][:, :, j, b - 1]
                v = 1.0 - v if is_error else v
                cols[t].append(_masked_mean(v, mask)[keep])
                per_seed[t].append(np.where(mask, v, np.nan)[keep])
            err = 1.0 - table.metrics["val_acc"][:, :, j, b - 1]
            cols[NOISE_TARGET].append(_masked_std(err, mask)[keep])
            rc.append(keep)
            ep.append(np.full(keep.size, b))
            sc.append(np.full(keep.size, sched))
    y = {t: np.concatenate(v) if v else np.zeros(0) for t, v in cols.items()}
    n_seeds = len(table.seeds)
    y_seeds = {t: np.concatenate(v) if v else np.zeros((0, n_seeds)) for t, v in per_seed.items()}
    secs = table.metrics["train_seconds"] + table.metrics["eval_seconds"]  # (C, S, B, E)
    # each run counted once per slot it fills; a ratio of sums is unaffected by duplicates
    total = np.nansum(np.where(have[..., None], secs, 0.0), axis=(1, 2, 3))
    epochs = np.where(have, table.n_epochs, 0).sum(axis=(1, 2)).astype(np.float64)
    spe = np.where(epochs > 0, total / np.maximum(epochs, 1), np.nan)
    spe[spe <= 0] = np.nan
    if C == 0:
        spe = np.zeros(0)
    return TrainingData(
        configs=table.configs,
        config_ids=table.config_ids,
        row_config=np.concatenate(rc) if rc else np.zeros(0, dtype=np.int64),
        epoch=np.concatenate(ep) if ep else np.zeros(0, dtype=np.int64),
        schedule=np.concatenate(sc) if sc else np.zeros(0, dtype=np.int64),
        y=y,
        y_seeds=y_seeds,
        seconds_per_epoch=spe,
        budgets=budgets,
        digest=table_digest(table),
    )


def _masked_mean(v: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask & ~np.isnan(v)
    n = m.sum(axis=1)
    return np.where(n > 0, np.where(m, v, 0.0).sum(axis=1) / np.maximum(n, 1), np.nan)


def _masked_std(v: np.ndarray, mask: np.ndarray) -> np.ndarray:
    mean = _masked_mean(v, mask)
    m = mask & ~np.isnan(v)
    n = m.sum(axis=1)
    ss = np.where(m, (v - mean[:, None]) ** 2, 0.0).sum(axis=1)
    return np.where(n > 1, np.sqrt(ss / np.maximum(n - 1, 1)), 0.0)
