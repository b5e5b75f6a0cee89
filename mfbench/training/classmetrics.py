"""Class metrics from confusion matrices.

Torch-free (tables, objectives and the report use it). ``macro_prf`` follows scikit-learn's
``precision_recall_fscore_support(average="macro", zero_division=0)``: per-class precision,
recall and F1 averaged over the labels present in the truth or the predictions, 0 for a class
that is never predicted. It works on a stack of matrices (``(..., K, K)``, rows = truth), so a
whole table's runs are scored in one call; an all-NaN matrix (no matrix recorded) gives NaN.
"""

from __future__ import annotations

import numpy as np


def macro_prf(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Macro precision, recall and F1 of each confusion matrix in ``cm`` (``(..., K, K)``, rows = truth)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    pred, true = cm.sum(axis=-2), cm.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(pred > 0, tp / np.where(pred > 0, pred, 1.0), 0.0)
        r = np.where(true > 0, tp / np.where(true > 0, true, 1.0), 0.0)
        f = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1.0), 0.0)
        labels = (true > 0) | (pred > 0)
        n = labels.sum(axis=-1)
        out = [
            np.where(n > 0, np.where(labels, x, 0.0).sum(axis=-1) / np.where(n > 0, n, 1), np.nan) for x in (p, r, f)
        ]
    missing = np.isnan(cm).any(axis=(-2, -1))
    return tuple(np.where(missing, np.nan, x) for x in out)  # type: ignore[return-value]


def normalize_rows(cm: np.ndarray) -> np.ndarray:
    """Each row (true class) divided by its total: the fraction of that class predicted as each label."""
    cm = np.asarray(cm, dtype=np.float64)
    tot = cm.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tot > 0, cm / np.where(tot > 0, tot, 1.0), 0.0)


def table_test_confusions(table) -> np.ndarray | None:
    """(C, S, B, K, K) test confusion matrix of each run of a loaded table (``mfbench.tables.table.Table``),
    as recorded after the run's last epoch (rows: truth), at its own schedule slot.

    NaN where a run has none, did not finish ``ok``, or where the slot is a prefix of a longer
    run (a schedule-independent config's matrix belongs only to its full-length run). Read
    from the table file itself (read-only), so that tables load as before; ``None`` when the
    file cannot be read or records no matrix.
    """
    import json
    import sqlite3

    from mfbench.core.errors import UsageError
    from mfbench.core.io import connect_readonly

    try:
        con = connect_readonly(table.path)
        try:
            rows = con.execute(
                "SELECT config_id, seed, schedule_epochs, test_confusion FROM runs "
                "WHERE status = 'ok' AND test_confusion IS NOT NULL"
            ).fetchall()
        finally:
            con.close()
    except (sqlite3.Error, UsageError):  # no table file at that path any more: no matrices
        return None
    k = table.n_classes
    C, S, B = len(table.config_ids), len(table.seeds), len(table.budgets)
    out = np.full((C, S, B, k, k), np.nan)
    found = False
    for cid, seed, sched, text in rows:
        c, s, b = table.index.get(cid), table.seed_index.get(int(seed)), table.budget_index.get(int(sched))
        cm = json.loads(text) if text else None
        if c is None or s is None or b is None or not cm or np.shape(cm) != (k, k):
            continue
        out[c, s, b] = cm
        found = True
    return out if found else None
