import json
import math
import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from support import make_tiny_table, synthetic_trial

from mfbench.core.errors import UsageError
from mfbench.objectives.synthetic import SyntheticObjective
from mfbench.tables.table import SCHEMA_VERSION, STATUS_CODE, TableWriter, check_table_file, export_parquet, load_table
from mfbench.training.records import EPOCH_FIELDS
from mfbench.training.space import get_space, iter_grid
from mfbench.training.train import train_trial

META = {"dataset": "digits", "space_name": "cnn-grid", "budgets": [1, 2, 4], "split": {"n_classes": 10}, "folds": 0}


@pytest.mark.slow  # trains real CNNs
def test_round_trip_write_read_export_keeps_every_value(tmp_path, tiny_config, digits):
    db = tmp_path / "t.sqlite"
    w = TableWriter.open(db, META)
    real = train_trial(tiny_config, digits, seed=0, schedule_epochs=2)
    grid = list(iter_grid(get_space("cnn-grid")))
    obj = SyntheticObjective(get_space("cnn-grid"), (1, 2, 4))
    fakes = [synthetic_trial(obj, grid[i], s, 4) for i in range(3) for s in (0, 1)]
    diverged = synthetic_trial(obj, grid[5], 0, 4, diverge_at=2)
    trials = [real, *fakes, diverged]
    for t in trials:
        assert w.write(t)
    assert not w.write(real)  # a trial is never duplicated
    w.close()

    con = sqlite3.connect(db)
    n_epochs = con.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
    assert n_epochs == sum(len(t.epochs) for t in trials)
    con.close()

    df = pd.read_parquet(export_parquet(db, tmp_path / "t.parquet"))
    assert len(df) == n_epochs
    for t in trials:
        rows = df[(df.config_id == t.config_id) & (df.seed == t.seed) & (df.schedule_epochs == t.schedule_epochs)]
        assert list(rows.status.unique()) == [t.status]
        assert list(rows.epoch) == [e.epoch for e in t.epochs]
        for f in EPOCH_FIELDS:
            got, want = rows[f].to_numpy(), np.array([getattr(e, f) for e in t.epochs])
            assert np.array_equal(got, want, equal_nan=True), f
        hp = {k[3:]: v for k, v in rows.iloc[0].items() if k.startswith("hp_") and not pd.isna(v)}
        assert hp == t.config  # 3 == 3.0 and True == True: values survive, inactive ones are null

    tab = load_table(db)
    c, s = tab.index[real.config_id], tab.seed_index[0]
    b = tab.budget_index[2]
    assert [tab.metrics["val_acc"][c, s, b, e] for e in range(2)] == [e.val_acc for e in real.epochs]
    assert math.isnan(tab.metrics["val_acc"][c, s, b, 2])  # a 2-epoch schedule has no epoch 3
    d = tab.index[diverged.config_id]
    assert tab.status[d, 0, tab.budget_index[4]] == STATUS_CODE["diverged"]
    assert tab.metrics["val_acc"][d, 0, tab.budget_index[4], 3] == pytest.approx(0.1)  # chance after divergence


def test_constant_schedule_run_serves_every_budget(tmp_path):
    db = make_tiny_table(tmp_path / "g.sqlite", n_configs=None, seeds=(0,), budgets=(1, 3, 9))
    tab = load_table(db)
    assert tab.complete()
    for i, cfg in enumerate(tab.configs):
        if cfg["lr_schedule"] == "constant":
            full = tab.metrics["val_acc"][i, 0, 2]
            for b, length in enumerate(tab.budgets):
                assert np.array_equal(tab.metrics["val_acc"][i, 0, b, :length], full[:length])
    con = sqlite3.connect(db)
    n_runs = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    n_const = sum(c["lr_schedule"] == "constant" for c in tab.configs)
    assert n_runs == n_const + 3 * (len(tab.configs) - n_const)


def test_foreign_files_are_refused(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("hello")
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.commit()
    old = make_tiny_table(tmp_path / "old.sqlite", n_configs=2, seeds=(0,), budgets=(1, 3))
    con = sqlite3.connect(old)
    con.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    for path, words in [
        (text, "not an SQLite"),
        (other, "another application"),
        (old, "schema version"),
        (tmp_path / "missing.sqlite", "no such table"),
    ]:
        with pytest.raises(UsageError, match=words):
            check_table_file(path)
        out = subprocess.run([sys.executable, "-m", "mfbench", "info", str(path)], capture_output=True, text=True)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_writer_refuses_a_contradicting_table(tmp_path):
    db = tmp_path / "t.sqlite"
    TableWriter.open(db, META).close()
    with pytest.raises(UsageError, match="budgets"):
        TableWriter.open(db, {**META, "budgets": [1, 3, 9]})
    with pytest.raises(UsageError, match="dataset"):
        TableWriter.open(db, {**META, "dataset": "mnist"})
    TableWriter.open(db, META).close()  # the same identity is welcome


def test_info_command(tmp_path):
    db = make_tiny_table(tmp_path / "t.sqlite", n_configs=3, seeds=(0, 1), budgets=(1, 3))
    out = subprocess.run([sys.executable, "-m", "mfbench", "info", str(db), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["configs"] == 3 and d["seeds"] == [0, 1] and d["ladder"] == [1, 3] and d["runs"]["ok"] > 0


def test_timing_outliers_are_found_and_dropped(tmp_path):
    """A paused epoch and a starved run are found by relative tests; dropping them leaves a
    table that a rerun of collect would complete (the runs are missing again)."""
    import sqlite3

    from support import make_tiny_table

    from mfbench.tables.timing import drop_runs, timing_outliers

    db = make_tiny_table(tmp_path / "t.sqlite", "cnn-grid", 6, (0, 1, 2), (1, 3, 9))
    assert timing_outliers(db) == []
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE epochs SET train_seconds = train_seconds + 100 WHERE run_id = 2 AND epoch = 2")
        rid = con.execute("SELECT run_id FROM runs WHERE run_id != 2 AND schedule_epochs = 9 LIMIT 1").fetchone()[0]
        con.execute("UPDATE epochs SET train_seconds = train_seconds * 50 + 10 WHERE run_id = ?", (rid,))
    con.close()
    found = {r["run_id"]: r for r in timing_outliers(db, ratio=5, min_seconds=1)}
    assert set(found) == {2, rid}
    assert found[2]["why"] == "paused" and found[2]["epoch"] == 2 and found[rid]["why"] == "starved"
    n_before = len(load_table(db).config_ids)
    assert drop_runs(db, list(found)) == 2
    assert timing_outliers(db, ratio=5, min_seconds=1) == []
    t = load_table(db)
    assert len(t.config_ids) == n_before and not t.complete()


def test_timing_outliers_across_compute_twins(tmp_path):
    """Every seed of one configuration slowed alike passes the across-seeds test; its compute
    twins (the same network and batch, another learning rate or schedule) give it away."""
    import sqlite3

    from support import make_tiny_table

    from mfbench.tables.timing import compute_signature, timing_outliers

    db = make_tiny_table(tmp_path / "t.sqlite", "cnn-grid", 24, (0, 1, 2), (1, 3))
    con = sqlite3.connect(db)
    groups: dict[str, list[str]] = {}
    for cid, j in con.execute("SELECT config_id, config_json FROM configs"):
        groups.setdefault(compute_signature(j), []).append(cid)
    victim = next(g for g in groups.values() if len(g) >= 3)[0]
    with con:
        con.execute(
            "UPDATE epochs SET train_seconds = train_seconds * 8 WHERE run_id IN "
            "(SELECT run_id FROM runs WHERE config_id = ?)",
            (victim,),
        )
        slowed = {r[0] for r in con.execute("SELECT run_id FROM runs WHERE config_id = ?", (victim,))}
    con.close()
    found = timing_outliers(db, ratio=5, min_seconds=0.1)
    assert {r["run_id"] for r in found} == slowed and {r["why"] for r in found} == {"twins"}


def test_a_writer_stopped_while_creating_leaves_a_file_the_next_one_creates(tmp_path, monkeypatch):
    """Schema and meta are written in one transaction: a writer stopped between them (here by
    an interrupt in the middle of the meta) leaves an empty table, which the next writer
    creates -- never a table without meta, which every later collect would refuse."""
    import mfbench.tables.table

    db = tmp_path / "t.sqlite"
    real = mfbench.tables.table._meta_value

    def interrupted(v):
        raise KeyboardInterrupt

    monkeypatch.setattr(mfbench.tables.table, "_meta_value", interrupted)
    with pytest.raises(KeyboardInterrupt):
        TableWriter.open(db, META)
    monkeypatch.setattr(mfbench.tables.table, "_meta_value", real)
    w = TableWriter.open(db, META)  # the same writer again: creates it
    w.close()
    check_table_file(db)


def test_a_second_writer_is_refused_before_it_opens_the_file(tmp_path):
    """The writer lock is taken before SQLite opens the file for writing (or creates its
    schema): the refused writer changes nothing, not even the journal mode."""
    db = tmp_path / "t.sqlite"
    first = TableWriter.open(db, META)
    try:
        before = db.read_bytes()
        with pytest.raises(UsageError, match="being written by another mfbench process"):
            TableWriter.open(db, META)
        assert db.read_bytes() == before
        with pytest.raises(UsageError, match="being written by another mfbench process"):
            TableWriter.open(tmp_path / "t.sqlite", META)
    finally:
        first.close()
    TableWriter.open(db, META).close()
