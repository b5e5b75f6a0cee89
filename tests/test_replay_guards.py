"""replay: names from data files never leave the study's folder; a damaged run file is redone."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import MFBENCH, kill_driver_and_check_workers, make_tiny_table, replay_argv

from mfbench.cli import main
from mfbench.execution.runner import TIMING_COLUMNS
from mfbench.objectives.registry import clear_cache
from mfbench.studies.replay import replay

QUICK = dict(seeds=[0], budget="3x", jobs=1, progress=False)


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("name", ["../../evil", "/abs/evil", "a/b", ".."])
def test_a_benchmark_name_from_a_table_stays_inside_the_study(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    table = make_tiny_table(tmp_path / "grid.sqlite", "cnn-grid", None, (0,), (1, 3))
    con = sqlite3.connect(table)
    with con:
        con.execute("UPDATE meta SET value=? WHERE key='benchmark'", (name,))
    con.close()
    before = digest(tmp_path)
    code = main(replay_argv(table, "study"))
    err = capsys.readouterr().err
    assert code == 2 and "not a plain file name" in err and len(err.strip().splitlines()) == 1, err
    assert digest(tmp_path) == before


def test_a_corrupted_run_file_is_moved_aside_and_redone(tmp_path):
    out = tmp_path / "study"
    first = replay(["synthetic-grid"], ["random"], out=out, **QUICK)
    assert first.ok == 1
    f = next((out / "runs").glob("*.parquet"))
    good = f.read_bytes()
    f.write_bytes(good[: len(good) // 2])  # a torn copy
    again = replay(["synthetic-grid"], ["random"], out=out, **QUICK)
    assert again.ran == 1 and again.ok == 1 and again.failed == 0
    redone = pq.read_table(f).drop_columns(list(TIMING_COLUMNS))
    assert redone.equals(pq.read_table(pa.BufferReader(good)).drop_columns(list(TIMING_COLUMNS)))  # the same run
    assert len(list((out / "unreadable").iterdir())) == 1
    third = replay(["synthetic-grid"], ["random"], out=out, **QUICK)
    assert third.ran == 0 and third.skipped == 1


def test_workers_end_when_the_driver_is_killed(tmp_path):
    """A replay killed with SIGKILL cannot shut its pool down: its workers must exit by themselves."""
    import subprocess
    import time

    import psutil

    cmd = [
        *MFBENCH,
        *replay_argv(
            "synthetic-cnn", tmp_path / "study", "--max-evals", "100000", "--jobs", "2", seeds="0-99", budget="100000x"
        ),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = psutil.Process(proc.pid)
    deadline, workers = time.time() + 120, []
    while time.time() < deadline and len(workers) < 2:
        workers = [
            c for c in driver.children() if "loky" in " ".join(c.cmdline()) and "tracker" not in " ".join(c.cmdline())
        ]
        time.sleep(0.2)
    assert len(workers) == 2, "the pool's two workers must have started"
    time.sleep(2)  # inside their runs
    kill_driver_and_check_workers(proc, workers)


def test_a_study_refuses_runs_of_a_benchmark_whose_data_changed(tmp_path, monkeypatch, capsys):
    """Finished runs are skipped by file name: a table regrown (or a surrogate refitted) under
    the same name would otherwise mix runs on two versions of it into one verdict."""
    monkeypatch.chdir(tmp_path)
    table = make_tiny_table(tmp_path / "grid.sqlite", "cnn-grid", None, (0,), (1, 3))
    assert main(replay_argv(table, "study")) == 0
    assert main(replay_argv(table, "study")) == 0  # the same data: resumes, nothing to run
    capsys.readouterr()
    con = sqlite3.connect(table)  # one training's validation error changes: new data, same name
    with con:
        con.execute("UPDATE epochs SET val_acc = val_acc * 0.5 WHERE rowid = 1")
    con.close()
    clear_cache()  # a new command is a new process: it reads the file again
    before = digest(tmp_path / "study")
    assert main(replay_argv(table, "study")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "made on another version of it" in err[0] and "use another --out" in err[0], err
    assert digest(tmp_path / "study") == before
