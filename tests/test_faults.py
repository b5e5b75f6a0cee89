"""Fault tests: ``kill -9`` of collect, replay and fit at seeded random moments, and two writers
at once. No test relies on where a kill lands: each asserts invariants that must hold whether
it landed before the command started, mid-way or after it ended --

- nothing committed is lost: what was there before the kill is still there, unchanged;
- what is there is right: every row or run equals the uninterrupted command's;
- no stray file that breaks anything (only SQLite's own or pid-named temporaries between
  kills, none once the same command has run to the end);
- no process started by the killed driver survives it (found by an environment tag that
  every descendant inherits, not by a child list taken at one moment);
- rerunning the same command completes, reports what it actually did, and gives the
  uninterrupted command's result.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from support import MFBENCH, TINY_FIT_ARGS, collect_argv, make_tiny_table, replay_argv, three_configs

REPO = Path(__file__).resolve().parents[1]
TAG = "MFBENCH_FAULT_TAG"


def kill_times(seed: int, duration: float, n: int = 4) -> list[float]:
    """``n`` moments drawn from a seeded RNG over 0..1.2 x the command's measured duration, one
    in each n-th of that span, so that the kills spread from the start (imports) to past the
    end (the command had finished: the invariants hold either way)."""
    rng = random.Random(seed)
    span = 1.2 * duration / n
    return [span * (i + rng.random()) for i in range(n)]


def tagged_env() -> tuple[dict[str, str], str]:
    tag = uuid.uuid4().hex
    return {**os.environ, TAG: tag, "PYTHONPATH": str(REPO)}, tag


def tagged_processes(tag: str) -> list:
    import psutil

    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(TAG) == tag:
                found.append(p)
        except (psutil.Error, OSError):
            continue
    return found


def _running(p) -> bool:
    import psutil

    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def assert_no_survivor(tag: str, timeout: float = 30) -> None:
    """Every process that inherited ``tag`` has exited within ``timeout`` (the watchers poll)."""
    import psutil

    alive = tagged_processes(tag)
    _, alive = psutil.wait_procs(alive, timeout=timeout)
    alive = [p for p in alive if _running(p)]  # an exited worker waiting for init to reap it runs nothing
    for p in alive:  # leave no orphan behind when the assertion fails
        p.kill()
    assert not alive, f"processes outlived their killed driver: {[(p.pid, p.name()) for p in alive]}"


def run_killed(cmd: list[str], at: float, env: dict, log: Path, cwd: Path | None = None) -> int | None:
    """Start ``cmd``, ``kill -9`` its driver (only it: its workers must end by themselves) ``at``
    seconds later. Returns the exit status when it ended by itself first, None when killed."""
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=fh, cwd=cwd)
        try:
            return proc.wait(timeout=at)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return None


def timed(cmd: list[str], env: dict, cwd: Path | None = None) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=cwd, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return out, time.perf_counter() - t0


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def journal_mode_at_rest(db: Path) -> bytes:
    """Header bytes 18-19: 1,1 rollback journal (DELETE); 2,2 WAL."""
    return db.read_bytes()[18:20]


# --------------------------------------------------------------------------- collect


def _collect_cmd(db: Path, config_file: Path) -> list[str]:
    """3 configs x 2 seeds on the ladder 1,2,3 (14 trainings) in a pool of two workers."""
    return [*MFBENCH, *collect_argv(db, "--workers", "2", config_file=config_file, seeds="0,1", budgets="1,2,3")]


def table_rows(db: Path) -> dict[tuple, tuple]:
    """(config_id, seed, schedule) -> every epoch's metrics; timings and host details left out."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        keys = con.execute("SELECT config_id, seed, schedule_epochs, COUNT(*) FROM runs GROUP BY 1, 2, 3").fetchall()
        assert all(k[3] == 1 for k in keys), "a trial recorded twice"
        out: dict[tuple, list] = {k[:3]: [] for k in keys}
        for row in con.execute(
            "SELECT r.config_id, r.seed, r.schedule_epochs, r.status, r.n_epochs, e.epoch, e.train_loss, e.val_loss,"
            " e.val_acc, e.val_f1, e.test_acc, e.lr FROM runs r LEFT JOIN epochs e USING (run_id)"
            " ORDER BY r.config_id, r.seed, r.schedule_epochs, e.epoch"
        ):
            out[row[:3]].append(row[3:])
    finally:
        con.close()
    return {k: tuple(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def tiny_configs_file(tmp_path_factory):
    from conftest import TINY

    p = tmp_path_factory.mktemp("configs") / "configs.json"
    p.write_text(json.dumps(three_configs(TINY)))
    return p


@pytest.fixture(scope="module")
def collect_reference(tmp_path_factory, tiny_configs_file):
    db = tmp_path_factory.mktemp("reference") / "ref.sqlite"
    env, _ = tagged_env()
    out, seconds = timed(_collect_cmd(db, tiny_configs_file), env)
    assert "ran 14:" in out.stdout
    return table_rows(db), seconds, db


@pytest.mark.slow
def test_collect_killed_at_random_moments_then_rerun(tmp_path, tiny_configs_file, collect_reference):
    ref, seconds, ref_db = collect_reference
    assert len(ref) == 14 and journal_mode_at_rest(ref_db) == b"\x01\x01"  # a fresh table ends in DELETE mode
    db = tmp_path / "t.sqlite"
    cmd = _collect_cmd(db, tiny_configs_file)
    before: dict[tuple, tuple] = {}
    for at in kill_times(16, seconds):
        env, tag = tagged_env()
        code = run_killed(cmd, at, env, tmp_path / "log.txt")
        assert code in (None, 0), (tmp_path / "log.txt").read_text()[-2000:]
        assert_no_survivor(tag)
        assert {p.name for p in tmp_path.iterdir()} <= {
            "t.sqlite",
            "t.sqlite-wal",
            "t.sqlite-shm",
            "t.sqlite-journal",
            "log.txt",
        }
        if db.exists() and db.stat().st_size > 0:  # else: killed before it created the table
            from mfbench.tables.table import check_table_file

            check_table_file(db)  # a table with its meta, never a half-created one
            now = table_rows(db)
        else:
            now = {}
        assert all(now.get(k) == v for k, v in before.items()), "a committed trial was lost or changed"
        assert all(ref[k] == v for k, v in now.items()), "a trial differs from the uninterrupted run's"
        before = now
    env, tag = tagged_env()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"{len(before)} already in the table; ran {14 - len(before)}:" in out.stdout  # what it wrote
    assert table_rows(db) == ref
    assert journal_mode_at_rest(db) == b"\x01\x01"  # interrupted, resumed to the end: back in DELETE mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.txt", "t.sqlite"]
    assert_no_survivor(tag)


@pytest.mark.slow
def test_two_collects_at_once_one_writes(tmp_path, tiny_configs_file, collect_reference):
    """Two ``collect`` of the same design on one new database, started together: one writes,
    the other is refused with one line (exit 2) -- or, had the first ended before the second
    took the lock, finds everything done. Either way the counts they report add up to the
    table's trials, none twice, and the table is the uninterrupted one."""
    ref, _, _ = collect_reference
    db = tmp_path / "t.sqlite"
    cmd = _collect_cmd(db, tiny_configs_file)
    env, tag = tagged_env()
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [p.communicate() for p in procs]
    codes = [p.returncode for p in procs]
    ran, found = [], []
    for code, (stdout, stderr) in zip(codes, outs):
        assert "Traceback" not in stderr
        if code == 2:
            assert len(stderr.strip().splitlines()) == 1 and "being written by another mfbench process" in stderr
            ran.append(0)
        else:
            assert code == 0, stderr[-2000:]
            planned, already, n = map(
                int,
                re.search(
                    r"planned (\d+) trainings, (\d+) already in the table; ran "
                    r"(\d+):",
                    stdout,
                ).groups(),
            )
            assert n == planned - already, "it trained trials that the other wrote"  # both training at once
            ran.append(n)
            found.append(already)
    assert sorted(codes) == [0, 2] or sorted(found) == [0, 14], f"exit {codes}, found {found}: both wrote"
    assert sum(ran) == 14 and table_rows(db) == ref
    assert_no_survivor(tag)
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # the refused one, rerun
    assert again.returncode == 0 and "14 already in the table; ran 0:" in again.stdout


# --------------------------------------------------------------------------- replay


def _replay_cmd(out: Path) -> list[str]:
    """random on digits-grid, 4 seeds of 30 full-budget trainings each, in a pool of two workers."""
    return [*MFBENCH, *replay_argv("digits-grid", out, "--jobs", "2", seeds="0-3", budget="30x")]


def run_files(study: Path) -> dict[str, str]:
    return {p.name: sha(p) for p in sorted((study / "runs").glob("*.parquet"))}


def trajectory(path: Path):
    import pyarrow.parquet as pq

    from mfbench.execution.runner import TIMING_COLUMNS

    return pq.read_table(path).drop_columns(list(TIMING_COLUMNS))


@pytest.fixture(scope="module")
def replay_reference(tmp_path_factory):
    study = tmp_path_factory.mktemp("replay-ref") / "study"
    env, _ = tagged_env()
    out, seconds = timed(_replay_cmd(study), env)
    assert "ran 4, skipped 0" in out.stdout
    return study, seconds


def _replay_files_allowed(study: Path) -> None:
    """Between kills: the study's own files, and pid-named temporaries of a killed write."""
    for p in study.rglob("*"):
        rel = p.relative_to(study).as_posix()
        ok = (
            (p.is_dir() and rel in ("runs", "logs"))
            or rel in ("manifest.json", "trajectories.parquet", "replay.log")
            or rel.startswith("logs/")
            or re.fullmatch(r"runs/[^/]+\.parquet", rel)
            or re.fullmatch(r"(runs/)?\.[^/]+\.\d+\.tmp", rel)
        )
        assert ok, f"stray file {rel}"


def test_replay_killed_at_random_moments_then_rerun(tmp_path, replay_reference):
    ref_study, seconds = replay_reference
    study = tmp_path / "study"
    cmd = _replay_cmd(study)
    before: dict[str, str] = {}
    for at in kill_times(16, seconds):
        env, tag = tagged_env()
        code = run_killed(cmd, at, env, tmp_path / "log.txt")
        assert code in (None, 0), (tmp_path / "log.txt").read_text()[-2000:]
        assert_no_survivor(tag)
        if study.exists():
            _replay_files_allowed(study)
        now = run_files(study) if (study / "runs").is_dir() else {}
        assert all(now.get(k) == v for k, v in before.items()), "a finished run was lost or changed"
        for name in now:  # each finished run is the uninterrupted study's run
            assert trajectory(study / "runs" / name).equals(trajectory(ref_study / "runs" / name)), name
        before = now
    env, tag = tagged_env()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"ran {4 - len(before)}, skipped {len(before)}" in out.stdout  # what it did
    assert sorted(run_files(study)) == sorted(run_files(ref_study))
    assert trajectory(study / "trajectories.parquet").equals(trajectory(ref_study / "trajectories.parquet"))
    runs = [
        {k: r[k] for k in ("benchmark", "optimizer", "seed", "status", "n_evals")}
        for r in json.loads((study / "manifest.json").read_text())["runs"]
    ]
    ref_runs = [
        {k: r[k] for k in ("benchmark", "optimizer", "seed", "status", "n_evals")}
        for r in json.loads((ref_study / "manifest.json").read_text())["runs"]
    ]
    assert [r | {"n_evals": None} for r in runs] == [r | {"n_evals": None} for r in ref_runs]
    assert not [p for p in study.rglob("*.tmp")], "temporaries of a killed replay are left"
    assert_no_survivor(tag)


def test_two_replays_at_once_into_one_folder(tmp_path, replay_reference):
    """Started together: one runs the study, the other is refused with one line -- or, had the
    first ended before the second took the lock, finds it done. Never both running it."""
    ref_study, _ = replay_reference
    study = tmp_path / "study"
    cmd = _replay_cmd(study)
    env, tag = tagged_env()
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [p.communicate() for p in procs]
    ran = []
    for p, (stdout, stderr) in zip(procs, outs):
        assert "Traceback" not in stderr
        if p.returncode == 2:
            assert len(stderr.strip().splitlines()) == 1 and "being written by another mfbench replay" in stderr, stderr
            ran.append(0)
        else:
            assert p.returncode == 0, stderr[-2000:]
            ran.append(int(re.search(r"ran (\d+), skipped", stdout).group(1)))
    assert sorted(ran) == [0, 4], f"each replay's runs: {ran}"
    assert trajectory(study / "trajectories.parquet").equals(trajectory(ref_study / "trajectories.parquet"))
    assert len(json.loads((study / "manifest.json").read_text())["runs"]) == 4
    assert_no_survivor(tag)


def test_a_replay_holding_the_folder_refuses_a_second_with_one_line(tmp_path, monkeypatch, capsys):
    """The lock, deterministically: held by this process as another replay would hold it."""
    from mfbench.cli import main
    from mfbench.core.io import hold_exclusive

    monkeypatch.chdir(tmp_path)
    argv = replay_argv("synthetic-grid", "study")
    assert main(argv) == 0
    capsys.readouterr()
    (tmp_path / "study" / "runs" / "synthetic-grid__random__0.parquet").unlink()  # work left to do
    digest = {p: sha(p) for p in (tmp_path / "study").rglob("*") if p.is_file()}
    held = hold_exclusive(tmp_path / "study", "held")
    try:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "being written by another mfbench replay" in err, err
        assert {p: sha(p) for p in (tmp_path / "study").rglob("*") if p.is_file()} == digest
    finally:
        held.release()
    assert main(argv) == 0  # the same command, once the folder is free
    assert (tmp_path / "study" / "runs" / "synthetic-grid__random__0.parquet").exists()


def test_stale_temporaries_of_a_killed_replay_go_live_ones_stay(tmp_path):
    from mfbench.studies.runfiles import remove_stale_temporaries

    (tmp_path / "runs").mkdir()
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = [tmp_path / f".manifest.json.{dead}.tmp", tmp_path / "runs" / f".a__b__0.parquet.{dead}.tmp"]
    live = tmp_path / "runs" / f".a__b__1.parquet.{os.getpid()}.tmp"
    for p in [*stale, live]:
        p.write_text("x")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert live.exists() and not any(p.exists() for p in stale)


# --------------------------------------------------------------------------- fit


def predictions(folder: Path):
    from mfbench.surrogates import load_surrogate
    from mfbench.training.space import get_space, sample_configs

    surr = load_surrogate(folder, refit=False, threads=1)
    X = surr.encoder.rows(surr.encoder.encode_configs(sample_configs(get_space("cnn"), 20, 3)), 3, 3)
    return {k: v.tolist() for k, v in surr.predict_rows(X).items()}


def test_fit_killed_at_random_moments_then_rerun(tmp_path):
    table = make_tiny_table(tmp_path / "t.sqlite", "cnn", 24, (0, 1), (1, 3))
    table_sha = sha(table)
    cmd = [sys.executable, "-m", "mfbench", "fit", str(table), *TINY_FIT_ARGS]
    env, _ = tagged_env()
    _, seconds = timed([*cmd, "--out", str(tmp_path / "ref")], env)
    ref = predictions(tmp_path / "ref")
    out = tmp_path / "s"
    for at in kill_times(16, seconds, 3):
        env, tag = tagged_env()
        code = run_killed([*cmd, "--out", str(out)], at, env, tmp_path / "log.txt")
        assert code in (None, 0), (tmp_path / "log.txt").read_text()[-2000:]
        assert_no_survivor(tag)
        assert sha(table) == table_sha  # the input is never touched
        if out.exists():  # a whole surrogate, or none yet: never half of one
            assert predictions(out) == ref
        names = {p.name for p in tmp_path.iterdir()} - {"t.sqlite", "ref", "s", "log.txt"}
        assert all(n.startswith(".s.tmp-") for n in names), names  # a killed save's temporaries only
    env, tag = tagged_env()
    subprocess.run([*cmd, "--out", str(out)], env=env, check=True, capture_output=True)
    assert predictions(out) == ref
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.txt", "ref", "s", "t.sqlite"]
    assert sha(table) == table_sha
    assert_no_survivor(tag)
