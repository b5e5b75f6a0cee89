"""Runs whose recorded seconds are artefacts of the machine, not of the configuration.

A table's train and eval seconds are wall time: the cost every objective charges. On a shared
machine a training can be paused (SIGSTOP, a suspended VM) or starved by other work, and then
one epoch, or all of them, take tens of times what the same training takes otherwise — one
such run of 507 s where its other seeds took 11 s made a 30x replay budget end before its
first evaluation. The metrics of such a run are right (training is deterministic); only its
clock is wrong. ``timing_outliers`` finds them, ``drop_runs`` deletes them in one transaction,
and rerunning the table's ``collect`` command trains exactly those again (same metrics, fresh
seconds).

Three tests, all relative, since epochs of different configs differ by 100x:
- within a run: an epoch slower than ``ratio`` x the run's median epoch (a pause; 4x that for
  the first epoch, which also loads kernels);
- across seeds: a run whose median epoch is slower than ``ratio`` x the median of the other
  runs of the same configuration (a starved run);
- across compute twins: a run whose median epoch is slower than ``ratio`` x the median of the
  runs of the other configurations that differ from it only in hyperparameters that do not
  change the work of an epoch (learning rate, its schedule, momentum, weight decay, label
  smoothing). All seeds of a configuration collected together during a long stretch of
  contention pass the second test; this one caught 21 such runs in digits-grid (8x slower
  than their twins, back to normal when trained again).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mfbench.core.errors import UsageError

#: hyperparameters that change what a training learns but not how long an epoch takes
COMPUTE_NEUTRAL = frozenset({"learning_rate", "lr_schedule", "momentum", "weight_decay", "label_smoothing"})


def timing_outliers(path: str | Path, ratio: float = 5.0, min_seconds: float = 2.0) -> list[dict[str, Any]]:
    """One dict per outlier run: run_id, config_id, seed, schedule_epochs, why, and the
    seconds that made it one. ``min_seconds``: ignore epochs shorter than this (noise); the
    median epoch of a whole run, steadier, counts against its twins from a quarter of it."""
    import pandas as pd

    from mfbench.core.io import connect_readonly
    from mfbench.tables.table import check_table_file

    if ratio <= 1:
        raise UsageError("--ratio must be > 1")
    check_table_file(path)
    con = connect_readonly(path)
    try:
        e = pd.read_sql("SELECT run_id, epoch, train_seconds + eval_seconds AS s FROM epochs", con)
        runs = pd.read_sql("SELECT run_id, config_id, seed, schedule_epochs FROM runs", con).set_index("run_id")
        configs = dict(con.execute("SELECT config_id, config_json FROM configs").fetchall())
    finally:
        con.close()
    out: dict[int, dict[str, Any]] = {}
    if e.empty:
        return []
    per_run = e.groupby("run_id")["s"]
    med = per_run.transform("median")
    # a first epoch also loads kernels and warms caches: it must be 4x further out to count
    limit = np.where(e["epoch"] == 1, 4 * ratio, ratio) * med
    paused = e[(e["s"] > limit) & (e["s"] > min_seconds)]
    for rid, grp in paused.groupby("run_id"):
        worst = grp.loc[grp["s"].idxmax()]
        out[int(rid)] = {
            "why": "paused",
            "epoch": int(worst["epoch"]),
            "seconds": float(worst["s"]),
            "typical": float(med[worst.name]),
        }
    run_med = per_run.median().rename("m").to_frame().join(runs["config_id"])
    for _cid, grp in run_med.groupby("config_id"):
        if len(grp) < 2:
            continue
        m = grp["m"].to_numpy()
        for i, rid in enumerate(grp.index):
            others = float(np.median(np.delete(m, i)))
            if m[i] > ratio * others and m[i] > min_seconds and int(rid) not in out:
                out[int(rid)] = {"why": "starved", "epoch": None, "seconds": float(m[i]), "typical": others}
    signature = {cid: compute_signature(j) for cid, j in configs.items()}
    run_med["twins"] = run_med["config_id"].map(signature)  # NaN (left out) for an unknown config
    for _sig, grp in run_med.groupby("twins"):
        if grp["config_id"].nunique() < 3:
            continue
        for rid, row in grp.iterrows():
            others = float(grp.loc[grp["config_id"] != row["config_id"], "m"].median())
            if row["m"] > ratio * others and row["m"] > min_seconds / 4 and int(rid) not in out:
                out[int(rid)] = {"why": "twins", "epoch": None, "seconds": float(row["m"]), "typical": others}
    rows = []
    for rid, info in sorted(out.items()):
        r = runs.loc[rid]
        rows.append(
            {
                "run_id": rid,
                "config_id": str(r["config_id"]),
                "seed": int(r["seed"]),
                "schedule_epochs": int(r["schedule_epochs"]),
                **info,
            }
        )
    return rows


def drop_runs(path: str | Path, run_ids: list[int]) -> int:
    """Delete these runs and their epochs in one transaction; returns how many went."""
    from mfbench.tables.table import _connect, check_table_file, close_writer

    check_table_file(path)
    con = _connect(path)
    try:
        with con:
            marks = ",".join("?" * len(run_ids))
            con.execute(f"DELETE FROM epochs WHERE run_id IN ({marks})", run_ids)
            n = con.execute(f"DELETE FROM runs WHERE run_id IN ({marks})", run_ids).rowcount
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        close_writer(con)
    return int(n)


def compute_signature(config_json: str) -> str:
    """The configuration without its compute-neutral hyperparameters (what decides the work of
    an epoch): configurations with the same signature are compute twins."""
    import json

    c = json.loads(config_json)
    return json.dumps({k: v for k, v in sorted(c.items()) if k not in COMPUTE_NEUTRAL}, sort_keys=True)
