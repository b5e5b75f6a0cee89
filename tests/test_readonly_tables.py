"""Tables are read whatever their file name and wherever they lie, and reading one creates no file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import make_tiny_table

from mfbench.cli import main
from mfbench.core.io import connect_readonly
from mfbench.tables.table import TableWriter, info, load_table, to_frame

NAMES = ["a#b.sqlite", "what?.sqlite", "100%25.sqlite", "50%.sqlite", "x@y.sqlite", "sp ace.sqlite", "é.sqlite"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_table(tmp_path_factory.mktemp("t") / "tiny.sqlite", "cnn-grid", 6, (0,), (1, 3))


def _listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("name", NAMES)
def test_any_file_name_reads_and_creates_nothing(tiny, tmp_path, name, capsys):
    path = tmp_path / name
    shutil.copy(tiny, path)
    before = _listing(tmp_path)
    assert load_table(path).status.shape == load_table(tiny).status.shape
    assert info(path)["configs"] == 6
    assert len(to_frame(path)) == len(to_frame(tiny))
    assert main(["info", str(path), "--json"]) == 0
    assert _listing(tmp_path) == before  # no stray file (a hand-built URI cut the name at '#' or '?')
    capsys.readouterr()


def test_a_path_with_at_is_a_table_before_it_is_surrogate_at_table(tiny, tmp_path):
    from mfbench.objectives.registry import load_benchmark

    path = tmp_path / "x@y.sqlite"
    shutil.copy(tiny, path)
    assert [int(b) for b in load_benchmark(str(path), allow_partial=True).budgets] == [1, 3]


def test_a_missing_table_is_not_created(tmp_path):
    from mfbench.core.errors import UsageError

    with pytest.raises(UsageError, match="no such table"):
        connect_readonly(tmp_path / "nope#1.sqlite")
    assert list(tmp_path.iterdir()) == []


def test_a_closed_writer_leaves_no_wal_mode_behind(tmp_path):
    """A table at rest in WAL mode makes each read-only reader leave -wal/-shm files."""
    path = make_tiny_table(tmp_path / "t.sqlite", "cnn-grid", 3, (0,), (1,))
    assert path.read_bytes()[18:20] == b"\x01\x01"  # rollback journal: no shared-memory file needed
    load_table(path)
    assert sorted(_listing(tmp_path)) == ["t.sqlite"]
    w = TableWriter.open(path, {})
    w.close()
    assert path.read_bytes()[18:20] == b"\x01\x01"


def _readonly_mount_works() -> bool:
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    r = subprocess.run(["unshare", "-m", "sh", "-c", "mount -o bind,ro /tmp /tmp"], capture_output=True, check=False)
    return r.returncode == 0


@pytest.mark.skipif(not _readonly_mount_works(), reason="needs unshare and mount (a private read-only bind mount)")
@pytest.mark.parametrize("wal", [True, False])
def test_tables_on_read_only_media(tiny, tmp_path, wal):
    """A bind mount with ``ro`` is read-only media even for root (chmod is not, for root)."""
    import sqlite3

    folder = tmp_path / "media"
    folder.mkdir()
    path = folder / "t#1.sqlite"
    shutil.copy(tiny, path)
    if wal:  # as tables written before the writer left rollback mode on close
        con = sqlite3.connect(path)
        con.execute("PRAGMA journal_mode=WAL")
        con.close()
        assert path.read_bytes()[18:20] == b"\x02\x02"
    code = (
        f"from mfbench.tables.table import load_table, info; t = load_table({str(path)!r}); "
        f"print(info({str(path)!r})['configs'], t.status.shape[0])"
    )
    script = f'mount -o bind,ro {folder} {folder} && cd {os.getcwd()} && {sys.executable} -c "{code}"'
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["6", "6"]
    assert _listing(folder) == {"t#1.sqlite"}


SHIPPED = sorted((Path(__file__).resolve().parents[1] / "tabular").glob("*.sqlite"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_tables_are_at_rest_in_rollback_journal_mode(path):
    """Header bytes 18-19 are 1,1 in rollback-journal (DELETE) mode, 2,2 in WAL mode."""
    assert path.read_bytes()[18:20] == b"\x01\x01"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_reading_a_shipped_table_in_a_writable_folder_leaves_no_file(path, tmp_path, capsys):
    """Through the tabular objective and through ``info``: no -wal/-shm beside the copy (as a
    table at rest in WAL mode leaves), and the copy itself unchanged."""
    import hashlib

    from mfbench.objectives.registry import load_benchmark

    copy = tmp_path / path.name
    shutil.copy(path, copy)
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    bench = load_benchmark(str(copy), noise="mean")
    assert 0 <= bench.evaluate(bench.configs[0], bench.budgets[0], 0).val_error <= 1
    assert main(["info", str(copy)]) == 0
    capsys.readouterr()
    assert _listing(tmp_path) == {path.name}
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest


def test_a_table_written_by_collect_is_left_in_rollback_journal_mode(tmp_path, monkeypatch):
    """collect may write in WAL mode; the table it leaves is in DELETE mode (a synthetic trainer
    in place of torch: this is about the file, not the training)."""
    from support import synthetic_trial

    import mfbench.tables.collect
    from mfbench.objectives.synthetic import SyntheticObjective
    from mfbench.tables.collect import collect
    from mfbench.training.space import get_space

    def fake_local(todo, *a, **k):
        obj = SyntheticObjective(get_space("cnn"), [1, 3])
        return iter([synthetic_trial(obj, j.config, j.seed, j.schedule_epochs) for j in todo])

    monkeypatch.setattr(mfbench.tables.collect, "_execute_local", fake_local)
    db = tmp_path / "c.sqlite"
    s = collect(
        dataset="digits",
        space="cnn",
        db=db,
        design="random",
        n_configs=3,
        seeds=[0],
        budgets=[1, 3],
        progress=False,
        fuse="off",  # the stand-in trains lone trials
    )
    assert s.ran > 0 and db.read_bytes()[18:20] == b"\x01\x01"
    assert _listing(tmp_path) == {"c.sqlite"}
    load_table(db)
    assert _listing(tmp_path) == {"c.sqlite"}
