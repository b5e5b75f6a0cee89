"""collect checks everything before it creates anything, a dry run writes nothing, and a table
has one writer at a time."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from support import collect_argv

import mfbench.tables.collect
from mfbench.cli import main
from mfbench.tables.collect import collect
from mfbench.tables.table import TableWriter, table_meta
from mfbench.training.data import load_dataset


@pytest.fixture
def work(tmp_path, monkeypatch, tiny_config):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs.json").write_text(json.dumps([tiny_config]))
    return tmp_path


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--max-trials", "0"], "--max-trials"),
        (["--max-trials", "-3"], "--max-trials"),
        (["--folds", "-1"], "--folds"),
        (["--folds", "1"], "--folds"),
        (["--design-seed", "-1"], "--design-seed"),
        (["--design", "sobol", "--n-configs", "1000000000"], "--n-configs"),
        (["--design", "sobol", "--n-configs", "0"], "--n-configs"),
        (["--seeds", "0,0"], "--seeds"),
        (["--seeds", "-5"], "--seeds"),
        (["--budgets", "0,1"], "--budgets"),
        (["--budgets", "3,3"], "--budgets"),
        (["--benchmark", "../../x"], "--benchmark"),
        (["--trials-per-gpu", "0"], "--trials-per-gpu"),
        (["--workers", "0"], "--workers"),
        (["--fuse", "0"], "--fuse"),
        (["--fuse", "yes"], "--fuse"),
        (["--fuse", "-2"], "--fuse"),
        (["--fuse", "4096"], "--fuse"),
    ],
)
def test_bad_options_create_nothing(work, capsys, extra, words):
    before = digest(work)
    assert main(collect_argv("t.sqlite", *extra)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert digest(work) == before


def test_an_empty_config_file_creates_no_table(work, capsys):
    (work / "configs.json").write_text("[]")
    assert main(collect_argv("t.sqlite")) == 2
    assert "no configuration" in capsys.readouterr().err
    assert not (work / "t.sqlite").exists()


def test_a_folder_as_db_is_refused(work, capsys):
    (work / "d").mkdir()
    assert main(collect_argv("d")) == 2
    assert "is a folder" in capsys.readouterr().err


def test_a_dry_run_writes_nothing(work, capsys):
    assert main(collect_argv("t.sqlite", "--dry-run")) == 0
    assert not (work / "t.sqlite").exists()
    assert main(collect_argv("t.sqlite", "--max-trials", "1")) == 0
    capsys.readouterr()
    before = digest(work)
    assert main(collect_argv("t.sqlite", "--dry-run", "--seeds", "0-99999")) == 0
    assert digest(work) == before
    assert "planned 200000 trainings, 1 already in the table; ran 0" in capsys.readouterr().out
    assert main(collect_argv("t.sqlite", "--dry-run", "--budgets", "1,3")) == 2  # the identity is still checked
    assert digest(work) == before


def test_a_failure_after_creating_the_table_leaves_no_table(work, capsys, monkeypatch):
    def boom(*a, **k):
        raise ConnectionError("scheduler unreachable")

    monkeypatch.setattr(mfbench.tables.collect, "_execute_local", boom)
    assert main(collect_argv("t.sqlite")) == 2
    assert "scheduler unreachable" in capsys.readouterr().err
    assert sorted(p.name for p in work.iterdir()) == ["configs.json"]


@pytest.mark.slow  # trains real CNNs
def test_a_second_writer_is_refused_with_one_line(work, capsys):
    ds = load_dataset("digits")
    meta = table_meta("digits", "cnn", [1, 2], ds, 0, "t")
    first = TableWriter.open(work / "t.sqlite", meta)
    first.lock()
    try:
        before = digest(work)
        assert main(collect_argv("t.sqlite", "--max-trials", "1")) == 2
        err = capsys.readouterr().err
        assert "being written by another mfbench process" in err and len(err.strip().splitlines()) == 1
        main_files = ("configs.json", "t.sqlite")  # (SQLite's shared-memory index may be touched)
        assert [digest(work)[f] for f in main_files] == [before[f] for f in main_files]
    finally:
        first.close()
    s = collect(
        dataset="digits",
        space="cnn",
        db=work / "t.sqlite",
        design="file",
        config_file="configs.json",
        seeds=[0],
        budgets=[1, 2],
        progress=False,
        max_trials=1,
    )
    assert s.ran == 1  # the lock went with the first writer's close
