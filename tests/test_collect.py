import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest
from support import MFBENCH, collect_argv, collect_kwargs, kill_driver_and_check_workers, three_configs

from mfbench.cli.args import parse_int_list
from mfbench.core.errors import UsageError
from mfbench.tables.collect import collect, make_plan


@pytest.fixture
def config_file(tmp_path, tiny_config):
    p = tmp_path / "configs.json"
    p.write_text(json.dumps(three_configs(tiny_config)))
    return p


def _rows(db):
    """Every (run, epoch) as comparable tuples, timings and host details left out."""
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT r.config_id, r.seed, r.schedule_epochs, r.status, r.n_epochs, e.epoch, e.train_loss, e.val_loss,"
        " e.val_acc, e.val_f1, e.test_acc, e.lr FROM runs r JOIN epochs e USING (run_id)"
        " ORDER BY r.config_id, r.seed, r.schedule_epochs, e.epoch"
    ).fetchall()
    n_runs = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    con.close()
    return n_runs, rows


def _cli(db, config_file, *extra):
    """The small real collect of these tests: 3 configs x 2 seeds on the ladder 1,2,3 (14 trainings)."""
    return [*MFBENCH, *collect_argv(db, *extra, config_file=config_file, seeds="0,1", budgets="1,2,3")]


def test_plan_follows_fidelity_semantics(config_file):
    from mfbench.tables.collect import load_config_file

    configs = load_config_file(config_file, "cnn")
    plan = make_plan(configs, [0, 1], [1, 2, 3])
    # cosine: one training per budget; constant: one training to the largest budget
    assert len(plan.jobs) == 2 * (3 + 1 + 3) and plan.epochs(plan.jobs) == 2 * (6 + 3 + 6)
    done = {plan.jobs[0].key, plan.jobs[1].key}
    assert len(make_plan(configs, [0, 1], [1, 2, 3], done).todo) == len(plan.jobs) - 2
    assert parse_int_list("0-2,5", "x") == [0, 1, 2, 5]


def test_small_real_collect_and_sigkill_resume(tmp_path, config_file):
    """``kill -9`` at a seeded random moment of the command's measured duration, wherever it
    lands (before the table exists, mid-way, after the end: nothing is polled to aim it): the
    trials in the killed table are the uninterrupted run's, and the same command completes it
    to the identical table, saying how many it found. (More moments, worker processes and
    committed rows across kills: tests/test_faults.py.)"""
    import random

    full = tmp_path / "full.sqlite"
    t0 = time.perf_counter()
    subprocess.run(_cli(full, config_file), check=True, capture_output=True)
    duration = time.perf_counter() - t0
    n_full, rows_full = _rows(full)
    assert n_full == 14

    killed = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(_cli(killed, config_file), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # drawn where a mid-way kill is likely, but not required: the assertions hold at any moment
        assert proc.wait(timeout=random.Random(57).uniform(0.25, 0.9) * duration) == 0  # it ended first
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    n_mid, rows_mid = _rows(killed) if killed.exists() and killed.stat().st_size else (0, [])
    assert set(rows_mid) <= set(rows_full)  # whatever was committed is right
    out = subprocess.run(_cli(killed, config_file), check=True, capture_output=True, text=True)
    assert f"{n_mid} already in the table; ran {14 - n_mid}:" in out.stdout
    assert _rows(killed) == (n_full, rows_full)  # the same trials, identical metrics, none twice


@pytest.mark.slow  # trains real CNNs
def test_workers_end_when_the_driver_is_killed(tmp_path, config_file):
    """A driver killed with SIGKILL (or stopped by SIGTERM) cannot shut its pool down: its
    worker processes must notice and exit instead of sleeping on the queue for good."""
    import psutil

    db = tmp_path / "k.sqlite"
    proc = subprocess.Popen(
        _cli(db, config_file, "--workers", "2"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    driver = psutil.Process(proc.pid)
    deadline = time.time() + 120
    workers: list = []
    while time.time() < deadline and len(workers) < 2:
        # spawn's resource tracker is a child too; the pool's workers run multiprocessing.spawn
        workers = [c for c in driver.children() if "spawn_main" in " ".join(c.cmdline())]
        time.sleep(0.1)
    assert len(workers) == 2, "the pool's two workers must have started"
    kill_driver_and_check_workers(proc, workers)


def test_contradicting_options_are_refused(tmp_path, config_file):
    db = tmp_path / "t.sqlite"
    collect(**collect_kwargs(config_file, db=db, budgets=[1], max_trials=1))
    for change, word in [({"budgets": [1, 3]}, "budgets"), ({"space": "cnn-grid", "design": "grid"}, "space_name")]:
        kw = collect_kwargs(config_file, db=db, budgets=[1], dry_run=True) | change
        with pytest.raises(UsageError, match=word):
            collect(**kw)
    out = subprocess.run(_cli(db, config_file), capture_output=True, text=True)
    assert out.returncode == 2 and "budgets" in out.stderr and "Traceback" not in out.stderr
    bad = subprocess.run(_cli(tmp_path / "x.sqlite", config_file, "--workers", "0"), capture_output=True, text=True)
    assert bad.returncode == 2 and not (tmp_path / "x.sqlite").exists()


@pytest.mark.slow  # trains real CNNs
def test_dask_local_cluster_writes_the_same_rows(tmp_path, config_file):
    from distributed import Client, LocalCluster

    kw = collect_kwargs(config_file, threads=1)
    collect(db=tmp_path / "local.sqlite", **kw)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            s = collect(db=tmp_path / "dask.sqlite", dask=client, **kw)
    assert s.ran == 5 and s.ok == 5
    assert _rows(tmp_path / "dask.sqlite") == _rows(tmp_path / "local.sqlite")


@pytest.mark.slow  # trains real CNNs
def test_parallel_workers_write_the_same_rows(tmp_path, config_file):
    kw = collect_kwargs(config_file, threads=1)
    collect(db=tmp_path / "one.sqlite", **kw)
    collect(db=tmp_path / "two.sqlite", workers=2, **kw)
    assert _rows(tmp_path / "two.sqlite") == _rows(tmp_path / "one.sqlite")
