"""The tabular learning-curve database: SQLite schema, writer, dense-array reader, export.

SQLite is what ``collect`` writes: one whole trial per transaction, so a crash or a
``kill -9`` leaves every trial either complete or absent. Readers load a table once into
dense numpy arrays indexed by ``(config, seed, schedule, epoch)`` so that a lookup is O(1)
and a batch of lookups is one fancy-indexing expression.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mfbench.core.errors import UsageError
from mfbench.core.io import Held, connect_readonly, hold_exclusive
from mfbench.core.types import STATUSES
from mfbench.training.records import EPOCH_FIELDS, TrialResult

SCHEMA_VERSION = 1
APPLICATION_ID = 0x6D666231  # "mfb1": marks the file as an mfbench table

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS configs (config_id TEXT PRIMARY KEY, config_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY,
    config_id TEXT NOT NULL REFERENCES configs(config_id),
    seed INTEGER NOT NULL,
    schedule_epochs INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'diverged', 'failed')),
    reason TEXT NOT NULL DEFAULT '',
    n_epochs INTEGER NOT NULL,
    host TEXT, device TEXT, torch_version TEXT, cuda_version TEXT,
    n_params INTEGER, flops INTEGER, peak_memory_bytes INTEGER,
    started REAL, finished REAL,
    val_confusion TEXT, test_confusion TEXT,
    trainer TEXT NOT NULL DEFAULT 'lone',
    UNIQUE (config_id, seed, schedule_epochs)
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    epoch INTEGER NOT NULL,
    {", ".join(f"{f} REAL" for f in EPOCH_FIELDS)},
    PRIMARY KEY (run_id, epoch)
);
"""

#: meta keys that every table has, and that a ``collect`` must agree with to append
IDENTITY_KEYS = ("dataset", "space_name", "budgets", "split", "folds")


def _connect(path: str | Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), timeout=60)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    return con


def close_writer(con: sqlite3.Connection) -> None:
    """Close a writing connection, leaving the file in rollback-journal mode when no one else has
    it open: a table at rest in WAL mode makes every read-only reader create ``-wal`` and
    ``-shm`` files beside it (and needs a writable folder to do so)."""
    try:
        con.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.OperationalError:  # another connection still reads it: WAL stays until its writer's close
        pass
    con.close()


def check_table_file(path: str | Path) -> None:
    """Refuse, with one clear line, a file that is not an mfbench table of this schema."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p}: no such table")
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
        if head != b"SQLite format 3\x00":
            raise UsageError(f"{p}: not an mfbench table (not an SQLite database)")
        con = connect_readonly(p)
        try:
            app = con.execute("PRAGMA application_id").fetchone()[0]
            if app != APPLICATION_ID:
                raise UsageError(f"{p}: not an mfbench table (SQLite database of another application)")
            row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"{p}: not a readable mfbench table ({exc})") from None
    if row is None or int(row[0]) != SCHEMA_VERSION:
        found = row[0] if row else "none"
        raise UsageError(f"{p}: table schema version {found}, this mfbench reads version {SCHEMA_VERSION}")


class TableWriter:
    """The only writer of a table. ``create`` or ``open`` it, then ``write(trial)``."""

    def __init__(self, con: sqlite3.Connection, path: Path):
        self.con = con
        self.path = path

    @classmethod
    def open(cls, path: str | Path, meta: Mapping[str, Any], lock: bool = True) -> TableWriter:
        """Open ``path`` for appending, creating it with ``meta`` if it does not exist.
        An existing table whose identity (dataset, space, ladder, split, folds) differs from
        ``meta`` is refused: appending would mix two benchmarks in one file.

        ``lock``: hold the table as its only writer until ``close`` -- taken before the schema is
        written or SQLite opens the file for writing, so that of two ``collect`` started at once
        on one new file, one creates and writes it and the other is refused with one line,
        touching nothing (see ``fileguard.hold_exclusive``)."""
        p = Path(path)
        checked = not blank_table(p)
        if checked:
            _check_appendable(p, meta)  # read-only: a refusal changes nothing (not even WAL mode)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o666))  # an empty file to lock
        held = (
            hold_exclusive(
                p, f"{p} is being written by another mfbench process; wait for it to finish, or use another --db"
            )
            if lock
            else Held(None)
        )
        try:
            if not blank_table(p):
                if not checked:  # another writer created it between our look and our lock
                    _check_appendable(p, meta)
                con = _connect(p)
                _add_trainer_column(con)
            else:
                con = _connect(p)
                _create(con, meta)
        except BaseException:
            held.release()
            raise
        writer = cls(con, p)
        writer._held = held
        return writer

    def lock(self) -> None:
        """Kept for callers that opened with ``lock=False``: take the writer lock now."""
        if getattr(self, "_held", None) is None or self._held.fd is None:
            self._held = hold_exclusive(
                self.path,
                f"{self.path} is being written by another mfbench process; wait for it to finish, or use another --db",
            )

    def done_keys(self) -> set[tuple[str, int, int]]:
        """(config_id, seed, schedule_epochs) of every trial already recorded, whatever its status."""
        return set(self.con.execute("SELECT config_id, seed, schedule_epochs FROM runs"))

    def trainers(self) -> set[str]:
        """The trainers (``lone``, ``fused``) of the runs already recorded: ``collect --fuse auto``
        keeps a table's trainer. (The writer adds the column to older tables: their runs are lone.)"""
        return {t for (t,) in self.con.execute("SELECT DISTINCT trainer FROM runs")}

    def set_meta(self, key: str, value: Any) -> None:
        with self.con:
            self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, _meta_value(value)))

    def write(self, trial: TrialResult) -> bool:
        """Commit one whole trial (config, run, all its epochs) in one transaction.
        Returns False, writing nothing, when the trial is already there."""
        with self.con:
            cur = self.con.execute("SELECT 1 FROM runs WHERE config_id=? AND seed=? AND schedule_epochs=?", trial.key)
            if cur.fetchone():
                return False
            self.con.execute(
                "INSERT OR IGNORE INTO configs VALUES (?, ?)",
                (trial.config_id, json.dumps(trial.config, sort_keys=True)),
            )
            cur = self.con.execute(
                "INSERT INTO runs (config_id, seed, schedule_epochs, status, reason, n_epochs, host, device,"
                " torch_version, cuda_version, n_params, flops, peak_memory_bytes, started, finished,"
                " val_confusion, test_confusion, trainer) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    trial.config_id,
                    trial.seed,
                    trial.schedule_epochs,
                    trial.status,
                    trial.reason,
                    len(trial.epochs),
                    trial.host,
                    trial.device,
                    trial.torch_version,
                    trial.cuda_version,
                    trial.n_params,
                    trial.flops,
                    trial.peak_memory_bytes,
                    trial.started,
                    trial.finished,
                    json.dumps(trial.val_confusion),
                    json.dumps(trial.test_confusion),
                    trial.trainer,
                ),
            )
            run_id = cur.lastrowid
            self.con.executemany(
                f"INSERT INTO epochs VALUES (?, ?, {', '.join('?' * len(EPOCH_FIELDS))})",
                [(run_id, e.epoch, *(getattr(e, f) for f in EPOCH_FIELDS)) for e in trial.epochs],
            )
        return True

    def close(self) -> None:
        try:
            self.con.execute("SELECT 1")
        except sqlite3.ProgrammingError:  # closed already
            pass
        else:
            close_writer(self.con)
        held = getattr(self, "_held", None)
        if held is not None:
            held.release()

    def discard(self) -> None:
        """Close and delete the table (and SQLite's files beside it) while still holding the
        lock, so that no other writer can have opened it in between: for a collect that created
        the table and then failed before writing any trial."""
        try:
            self.con.close()
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self.close()


def blank_table(p: Path) -> bool:
    """Whether ``p`` holds no table at all: absent, empty, or an SQLite file without a single
    table nor another application's mark (what a writer killed while creating it leaves:
    ``journal_mode=WAL`` writes the header before the schema's transaction commits). Creating the
    schema there loses nothing."""
    if not p.exists() or (p.is_file() and p.stat().st_size == 0):
        return True
    try:
        with open(p, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                return False
        con = connect_readonly(p)
        try:
            app = con.execute("PRAGMA application_id").fetchone()[0]
            return app in (0, APPLICATION_ID) and con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
        finally:
            con.close()
    except (OSError, sqlite3.DatabaseError, UsageError):
        return False


def _check_appendable(p: Path, meta: Mapping[str, Any]) -> None:
    """An mfbench table of this schema whose identity agrees with ``meta``, read read-only."""
    check_table_file(p)
    ro = connect_readonly(p)
    try:
        check_identity(p, read_meta(ro), meta)
    finally:
        ro.close()


def _create(con: sqlite3.Connection, meta: Mapping[str, Any]) -> None:
    """Write the schema and ``meta`` into an empty file in one transaction: a writer killed
    while creating leaves an empty file (created again by the next ``collect``), never a table
    without its meta (which every later ``collect`` would refuse)."""
    values = {"schema_version": SCHEMA_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **meta}
    level = con.isolation_level
    con.isolation_level = None  # explicit BEGIN/COMMIT: DDL inside the one transaction
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute(f"PRAGMA application_id={APPLICATION_ID}")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                con.execute(statement)
        con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, _meta_value(v)) for k, v in values.items()])
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.isolation_level = level


def check_identity(p: Path, have: Mapping[str, str], meta: Mapping[str, Any]) -> None:
    """Refuse to add to a table whose identity (dataset, space, ladder, split, folds) differs
    from ``meta``: it would mix two benchmarks in one file."""
    for key in IDENTITY_KEYS:
        if key in meta and have.get(key) != _meta_value(meta[key]):
            raise UsageError(
                f"{p} was collected with {key}={have.get(key)}, not {_meta_value(meta[key])}; use another --db"
            )


def planned_done_keys(path: str | Path, meta: Mapping[str, Any]) -> set[tuple[str, int, int]]:
    """What a collect into ``path`` would skip, read without writing (a dry run): the trials
    there, after the same identity check; nothing when the table does not exist yet."""
    p = Path(path)
    if blank_table(p):
        return set()
    check_table_file(p)
    con = connect_readonly(p)
    try:
        check_identity(p, read_meta(con), meta)
        return set(con.execute("SELECT config_id, seed, schedule_epochs FROM runs"))
    finally:
        con.close()


def _has_trainer_column(con: sqlite3.Connection) -> bool:
    return any(r[1] == "trainer" for r in con.execute("PRAGMA table_info(runs)"))


def _add_trainer_column(con: sqlite3.Connection) -> None:
    """Tables made before the fused trainer have no ``trainer`` column: every run in them was
    trained lone, which is the column's default."""
    if not _has_trainer_column(con):
        with con:
            con.execute("ALTER TABLE runs ADD COLUMN trainer TEXT NOT NULL DEFAULT 'lone'")


def _meta_value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def read_meta(con: sqlite3.Connection) -> dict[str, str]:
    return dict(con.execute("SELECT key, value FROM meta"))


# --------------------------------------------------------------------------------------
# Reader: dense arrays
# --------------------------------------------------------------------------------------

STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}
MISSING = -1


@dataclass
class Table:
    """A table as dense arrays.

    ``metrics[name]`` has shape ``(n_configs, n_seeds, n_schedules, max_budget)``: the value of
    ``name`` after epoch ``e + 1`` of the run of that config and seed whose LR schedule lasts
    ``budgets[s]`` epochs. For a budget-independent schedule, the one run to the largest budget
    fills every schedule slot (its prefix *is* the shorter training). Epochs after a
    divergence are filled with chance-level accuracy, and ``NaN`` losses; ``status`` says
    which runs diverged or failed, and ``n_epochs`` how many epochs each really trained.
    """

    path: str
    meta: dict[str, Any]
    configs: list[dict[str, Any]]
    config_ids: list[str]
    seeds: np.ndarray
    budgets: np.ndarray
    metrics: dict[str, np.ndarray]
    status: np.ndarray  # int8 (C, S, B): index into STATUSES, MISSING when absent
    n_epochs: np.ndarray  # int16 (C, S, B)
    n_params: np.ndarray  # (C,)
    flops: np.ndarray  # (C,)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.index = {cid: i for i, cid in enumerate(self.config_ids)}
        self.seed_index = {int(s): i for i, s in enumerate(self.seeds)}
        self.budget_index = {int(b): i for i, b in enumerate(self.budgets)}

    @property
    def n_classes(self) -> int:
        return int(self.meta.get("split", {}).get("n_classes", 10))

    def complete(self) -> bool:
        return bool((self.status != MISSING).all())


def _schedule_independent(config: Mapping[str, Any]) -> bool:
    from mfbench.training.space import BUDGET_INDEPENDENT_SCHEDULES

    return config.get("lr_schedule", "constant") in BUDGET_INDEPENDENT_SCHEDULES


def load_table(path: str | Path) -> Table:
    """Read a whole table into dense arrays (one SQL pass; ~1 s for 100k epochs)."""
    check_table_file(path)
    con = connect_readonly(path)
    try:
        raw_meta = read_meta(con)
        meta: dict[str, Any] = {}
        for k, v in raw_meta.items():
            try:
                meta[k] = json.loads(v)
            except (json.JSONDecodeError, TypeError):
                meta[k] = v
        budgets = np.asarray(meta["budgets"], dtype=np.int64)
        cfg_rows = con.execute("SELECT config_id, config_json FROM configs ORDER BY config_id").fetchall()
        runs = con.execute(
            "SELECT run_id, config_id, seed, schedule_epochs, status, reason, n_epochs, n_params, flops,"
            " device, host, peak_memory_bytes, started, finished,"
            + (" trainer" if _has_trainer_column(con) else " 'lone'")
            + " FROM runs"
        ).fetchall()
        ep = con.execute(f"SELECT run_id, epoch, {', '.join(EPOCH_FIELDS)} FROM epochs").fetchall()
    finally:
        con.close()
    config_ids = [r[0] for r in cfg_rows]
    configs = [json.loads(r[1]) for r in cfg_rows]
    index = {cid: i for i, cid in enumerate(config_ids)}
    seeds = np.asarray(sorted({int(r[2]) for r in runs} | set(meta.get("seeds", []))), dtype=np.int64)
    seed_index = {int(s): i for i, s in enumerate(seeds)}
    bidx = {int(b): i for i, b in enumerate(budgets)}
    C, S, B, E = len(config_ids), len(seeds), len(budgets), int(budgets.max())
    chance = 1.0 / float(meta.get("split", {}).get("n_classes", 10))
    metrics = {f: np.full((C, S, B, E), np.nan) for f in EPOCH_FIELDS}
    status = np.full((C, S, B), MISSING, dtype=np.int8)
    n_epochs = np.zeros((C, S, B), dtype=np.int16)
    n_params = np.zeros(C, dtype=np.int64)
    flops = np.zeros(C, dtype=np.int64)

    # epochs of every run into a (run, epoch) array first
    run_pos = {r[0]: i for i, r in enumerate(runs)}
    per_run = np.full((len(runs), E, len(EPOCH_FIELDS)), np.nan)
    if ep:
        arr = np.asarray(ep, dtype=np.float64)
        rows = np.fromiter((run_pos[int(r)] for r in arr[:, 0]), dtype=np.int64, count=len(arr))
        cols = arr[:, 1].astype(np.int64) - 1
        keep = cols < E
        per_run[rows[keep], cols[keep]] = arr[keep, 2:]
    acc_fields = [i for i, f in enumerate(EPOCH_FIELDS) if f.endswith(("_acc", "_precision", "_recall", "_f1"))]
    time_fields = [i for i, f in enumerate(EPOCH_FIELDS) if f.endswith("_seconds")]
    run_dicts = []
    for pos, r in enumerate(runs):
        run_id, cid, seed, sched, st, reason, ne, npar, fl, devname, host, peak, started, finished, trainer = r
        c, s = index[cid], seed_index[int(seed)]
        n_params[c], flops[c] = npar or 0, fl or 0
        run_dicts.append(
            dict(
                run_id=run_id,
                config_id=cid,
                seed=int(seed),
                schedule_epochs=int(sched),
                status=st,
                reason=reason,
                n_epochs=int(ne),
                device=devname,
                host=host,
                peak_memory_bytes=peak,
                started=started,
                finished=finished,
                trainer=trainer,
            )
        )
        curve = per_run[pos]
        if st != "ok":  # after a divergence (or failure) the model is worth chance
            curve[ne:, acc_fields] = chance
            curve[ne:, time_fields] = 0.0
        if _schedule_independent(configs[c]) and int(sched) == E:
            targets = [(b, int(budgets[b])) for b in range(B)]
        elif int(sched) in bidx:
            targets = [(bidx[int(sched)], int(sched))]
        else:
            continue
        for b, length in targets:
            for fi, f in enumerate(EPOCH_FIELDS):
                metrics[f][c, s, b, :length] = curve[:length, fi]
            status[c, s, b] = STATUS_CODE[st]
            n_epochs[c, s, b] = min(int(ne), length)
    return Table(
        str(path), meta, configs, config_ids, seeds, budgets, metrics, status, n_epochs, n_params, flops, run_dicts
    )


# --------------------------------------------------------------------------------------
# Summary and export
# --------------------------------------------------------------------------------------


def info(path: str | Path) -> dict[str, Any]:
    """What a table holds, for ``mfbench info``."""
    check_table_file(path)
    con = connect_readonly(path)
    try:
        meta = read_meta(con)
        n_configs = con.execute("SELECT COUNT(*) FROM configs").fetchone()[0]
        by_status = dict(con.execute("SELECT status, COUNT(*) FROM runs GROUP BY status"))
        seeds = [r[0] for r in con.execute("SELECT DISTINCT seed FROM runs ORDER BY seed")]
        n_epochs = con.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
        hardware = [f"{d} ({h})" for d, h in con.execute("SELECT DISTINCT device, host FROM runs")]
        train_s = con.execute("SELECT COALESCE(SUM(train_seconds + eval_seconds), 0) FROM epochs").fetchone()[0]
    finally:
        con.close()
    return {
        "path": str(path),
        "benchmark": meta.get("benchmark", ""),
        "dataset": meta.get("dataset", ""),
        "space": meta.get("space_name", ""),
        "ladder": json.loads(meta.get("budgets", "[]")),
        "configs": n_configs,
        "seeds": seeds,
        "runs": by_status,
        "epochs": n_epochs,
        "compute_seconds": round(float(train_s), 1),
        "hardware": hardware,
        "mfbench_version": meta.get("mfbench_version", ""),
        "created": meta.get("created", ""),
    }


def to_frame(path: str | Path):
    """One row per (run, epoch), with the run's fields and the config's hyperparameters as
    columns (prefixed ``hp_``); runs without epochs (failures) keep one row with NaN metrics."""
    import pandas as pd

    check_table_file(path)
    con = connect_readonly(path)
    try:
        runs = pd.read_sql_query("SELECT * FROM runs", con)
        epochs = pd.read_sql_query("SELECT * FROM epochs", con)
        configs = pd.read_sql_query("SELECT * FROM configs", con)
    finally:
        con.close()
    hp = pd.DataFrame([json.loads(j) for j in configs["config_json"]]).add_prefix("hp_")
    hp = hp.astype(object).where(hp.notna(), None)
    hp.insert(0, "config_id", configs["config_id"].values)
    df = runs.merge(epochs, on="run_id", how="left").merge(hp, on="config_id", how="left")
    return df.sort_values(["config_id", "seed", "schedule_epochs", "epoch"]).reset_index(drop=True)


def export_parquet(path: str | Path, out: str | Path) -> Path:
    """Write the table as one parquet file (atomically: a temp file, then a rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_table_file(path)
    out = check_export_target(path, out)
    df = to_frame(path)
    for col in df.columns:
        if col.startswith("hp_"):  # typed columns; an inactive hyperparameter is null
            present = [v for v in df[col] if v is not None]
            if present and all(isinstance(v, bool) for v in present):
                df[col] = df[col].astype("boolean")
            elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
                df[col] = df[col].astype("float64")
            else:
                df[col] = df[col].astype("string")
    con = connect_readonly(path)
    try:
        meta = read_meta(con)
    finally:
        con.close()
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"mfbench_meta": json.dumps(meta).encode()})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def check_export_target(table: str | Path, out: str | Path) -> Path:
    """The ``--parquet`` file, refused when it is the table itself, a folder, or an existing file
    that is not an export of ours (only those are replaced). Creates nothing."""
    from mfbench.core.io import check_output_file

    out = check_output_file(out, (table,), "--parquet")
    if out.exists():
        try:
            import pyarrow.parquet as pq

            ours = b"mfbench_meta" in (pq.read_schema(out).metadata or {})
        except Exception:  # noqa: BLE001  (not parquet at all)
            ours = False
        if not ours:
            raise UsageError(f"--parquet {out} exists and is not a parquet export of mfbench; refusing to replace it")
    return out


def iter_trials(path: str | Path) -> Iterable[dict[str, Any]]:
    """Every run of a table as a dict (for comparisons and audits)."""
    return load_table(path).runs


def table_meta(dataset: str, space: str, budgets: Sequence[int], ds: Any, folds: int, benchmark: str) -> dict:
    """The identity a table is created with (``collect`` and the real objective write the same)."""
    from mfbench import __version__
    from mfbench.training.space import get_space, space_to_json

    return {
        "benchmark": benchmark,
        "dataset": dataset,
        "space_name": space,
        "space_json": space_to_json(get_space(space)),
        "budgets": sorted(int(b) for b in budgets),
        "split": ds.describe() | {"n_classes": ds.n_classes},
        "folds": folds,
        "schedule_semantics": "scratch: run with schedule_epochs == budget; continue: prefix of the "
        "max-budget run; budget-independent schedules (constant) train once to the max budget",
        "mfbench_version": __version__,
    }
