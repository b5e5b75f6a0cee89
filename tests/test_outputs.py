"""No command deletes or overwrites what it did not create, nor an output that is its input."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from support import TINY_FIT_ARGS, make_tiny_table

from mfbench.cli import main
from mfbench.surrogates.store import check_surrogate_out, save_surrogate


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_tiny_table(tmp_path / "t.sqlite", "cnn", 24, (0, 1), (1, 3))
    return tmp_path


def refused(argv, work, capsys, match):
    before = digest(work)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and match in err, err
    assert digest(work) == before


def test_export_onto_its_own_table_is_refused(work, capsys):
    refused(["export", "t.sqlite", "--parquet", "t.sqlite"], work, capsys, "is the input")
    os.link(work / "t.sqlite", work / "hard.sqlite")
    refused(["export", "t.sqlite", "--parquet", "hard.sqlite"], work, capsys, "is the input")


def test_export_replaces_only_its_own_exports(work, capsys):
    (work / "notes.parquet").write_text("my notes")
    refused(["export", "t.sqlite", "--parquet", "notes.parquet"], work, capsys, "not a parquet export of mfbench")
    (work / "d").mkdir()
    refused(["export", "t.sqlite", "--parquet", "d"], work, capsys, "is a folder")
    assert main(["export", "t.sqlite", "--parquet", "out.parquet"]) == 0
    assert main(["export", "t.sqlite", "--parquet", "out.parquet"]) == 0  # its own export: replaced
    assert sorted(p.name for p in work.iterdir()) == ["d", "notes.parquet", "out.parquet", "t.sqlite"]


def test_fit_refuses_an_out_holding_its_input(work, capsys):
    (work / "data").mkdir()
    (work / "t.sqlite").rename(work / "data" / "t.sqlite")
    refused(["fit", "data/t.sqlite", "--out", "data", *TINY_FIT_ARGS], work, capsys, "holds the input")
    refused(["fit", "data/t.sqlite", "--out", ".", *TINY_FIT_ARGS], work, capsys, "holds the input")


def test_fit_refuses_a_folder_or_file_it_did_not_write(work, capsys):
    (work / "mine").mkdir()
    (work / "mine" / "thesis.tex").write_text("years of work")
    refused(["fit", "t.sqlite", "--out", "mine", *TINY_FIT_ARGS], work, capsys, "not an mfbench surrogate folder")
    (work / "file").write_text("x")
    refused(["fit", "t.sqlite", "--out", "file", *TINY_FIT_ARGS], work, capsys, "not a folder")


def test_fit_replaces_its_own_surrogate_and_an_empty_folder(work, capsys):
    (work / "s").mkdir()
    assert main(["fit", "t.sqlite", "--out", "s", *TINY_FIT_ARGS]) == 0
    first = json.loads((work / "s" / "manifest.json").read_text())["created"]
    assert main(["fit", "t.sqlite", "--out", "s", *TINY_FIT_ARGS, "--seed", "1"]) == 0
    assert json.loads((work / "s" / "manifest.json").read_text())["fit_options"]["seed"] == 1
    assert first
    assert sorted(p.name for p in work.iterdir()) == ["s", "t.sqlite"]  # no temporary sibling left
    capsys.readouterr()


def test_a_killed_save_is_cleaned_up_or_restored(work):
    """Temporaries of a dead process go; an old folder moved aside by a save killed between its
    two renames comes back instead of being lost."""
    from mfbench.surrogates import load_surrogate

    assert main(["fit", "t.sqlite", "--out", "s", *TINY_FIT_ARGS]) == 0
    surr = load_surrogate(work / "s", refit=False)
    dead = 2**22 + 12345  # above the default pid_max: no such process
    (work / f".s.tmp-{dead}-abc").mkdir()
    (work / "s").rename(work / f".s.tmp-{dead}-old")
    save_surrogate(surr, work / "s2")  # another folder: its temporaries only
    assert (work / f".s.tmp-{dead}-old").exists()
    save_surrogate(surr, work / "s")
    assert sorted(p.name for p in work.iterdir()) == ["s", "s2", "t.sqlite"]


def test_check_surrogate_out_creates_nothing(tmp_path):
    check_surrogate_out(tmp_path / "new" / "deeper")
    assert list(tmp_path.iterdir()) == []


def test_cd_refuses_to_write_over_its_results(work, capsys):
    (work / "r.csv").write_text("block,method,value\nb1,a,1\nb1,b,2\nb2,a,1\nb2,b,3\n")
    refused(["cd", "r.csv", "--out", "r.csv"], work, capsys, "a figure is written as")
    refused(["cd", "r.csv", "--json", "r.csv"], work, capsys, "is the input")
    refused(["cd", "r.csv", "--out", "t.sqlite.png", "--json", "t.sqlite.png"], work, capsys, "is the input")


@pytest.mark.parametrize("moment", ["while starting", "while saving"])
def test_a_killed_fit_leaves_the_old_surrogate_or_the_new_one(work, moment):
    """``kill -9`` of ``fit`` early, or the moment its temporary folder appears (it is saving),
    then the same command again: the table is untouched, the folder is a loadable surrogate
    throughout, and no temporary is left."""
    import signal
    import subprocess
    import sys
    import time

    from mfbench.surrogates import load_surrogate

    assert main(["fit", "t.sqlite", "--out", "s", *TINY_FIT_ARGS]) == 0
    table = hashlib.sha256((work / "t.sqlite").read_bytes()).hexdigest()
    cmd = [sys.executable, "-m", "mfbench", "fit", str(work / "t.sqlite"), "--out", str(work / "s"), *TINY_FIT_ARGS]
    proc = subprocess.Popen(
        cmd, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if moment == "while starting":
        time.sleep(1.0)
    else:
        deadline = time.time() + 300
        while not list(work.glob(".s.tmp-*")) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, "the fit ended before its temporary folder was seen"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    load_surrogate(work / "s", refit=False)  # whatever the moment, a whole surrogate is there
    assert main(["fit", "t.sqlite", "--out", "s", *TINY_FIT_ARGS]) == 0
    load_surrogate(work / "s", refit=False)
    assert sorted(p.name for p in work.iterdir()) == ["s", "t.sqlite"]
    assert hashlib.sha256((work / "t.sqlite").read_bytes()).hexdigest() == table
