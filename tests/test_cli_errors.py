"""The last-resort handler: whatever goes wrong, one line on stderr and a meaningful exit status."""

from __future__ import annotations

import sqlite3

import pytest

import mfbench.cli.info
from mfbench.cli import main, one_line


def _raise(exc):
    def run(args):
        raise exc

    return run


@pytest.mark.parametrize(
    "exc, code, words",
    [
        (RuntimeError("boom"), 1, ["internal error", "RuntimeError: boom", "--debug"]),
        (KeyError("space_json"), 1, ["internal error", "KeyError", "space_json"]),
        (IsADirectoryError(21, "Is a directory", "/some/dir"), 2, ["/some/dir", "Is a directory"]),
        (PermissionError(13, "Permission denied", "/ro/x.sqlite"), 2, ["/ro/x.sqlite", "Permission denied"]),
        (sqlite3.DatabaseError("file is not a database"), 2, ["file is not a database"]),
        (ValueError("first line\nsecond line\n  third"), 1, ["first line; second line; third"]),
    ],
)
def test_unexpected_errors_are_one_line(monkeypatch, capsys, exc, code, words):
    monkeypatch.setattr(mfbench.cli.info, "run", _raise(exc))
    assert main(["info", "x"]) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err


def test_debug_shows_the_traceback_before_or_after_the_command(monkeypatch, capsys):
    monkeypatch.setattr(mfbench.cli.info, "run", _raise(RuntimeError("boom")))
    for argv in (["--debug", "info", "x"], ["info", "x", "--debug"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback" in err and "RuntimeError: boom" in err
        assert "rerun with --debug" not in err


def test_argument_errors_are_one_line(capsys):
    for argv in (["collect"], ["collect", "--db", "x", "--workers", "two"], ["nosuch"], ["fit", "t", "--bogus"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "error:" in err and "--help" in err, err


def test_help_still_prints_the_usage(capsys):
    with pytest.raises(SystemExit) as e:
        main(["fit", "--help"])
    assert e.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_one_line():
    assert one_line("a\n\n  b \n") == "a; b"
