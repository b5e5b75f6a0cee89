"""Guards on the files mfbench reads and writes, in one place so that every command applies
the same rules:

- ``connect_readonly``: open an SQLite table read-only whatever its file name (``#``, ``?``,
  ``%``, ``@``, spaces: the URI is percent-quoted, never built by hand) and on read-only media
  (a WAL table in a folder nobody may write falls back to ``immutable=1``), creating no file.
- ``safe_name`` / ``inside``: a name that comes from a data file (a table's meta, a
  surrogate's manifest) becomes part of a path only if it cannot leave its folder.
- ``same_file`` / ``refuse_output_is_input``: an output that is one of the command's inputs
  is refused instead of overwritten.
- ``atomic_write_text``: write beside the target, then rename, so a crash leaves the old file or
  the new one, never half of one.
- ``hold_exclusive``: one writer at a time on a table or a study folder, refused with one line
  while another process holds it.
"""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path
from typing import Any

from mfbench.core.errors import UsageError


def sqlite_uri(path: str | Path, **params: str) -> str:
    """``file:`` URI of ``path`` with every special character percent-quoted (``as_uri`` quotes
    ``#``, ``?``, ``%``; SQLite decodes them), plus query ``params``."""
    uri = Path(path).resolve().as_uri()
    if params:
        uri += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    return uri


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to the table at ``path`` (which must exist): ``mode=ro``, or, when
    the folder cannot be written (read-only media: a WAL table needs its ``-shm`` file there),
    ``immutable=1`` -- safe there, since nobody can change the file either."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such table" if not p.exists() else f"{p}: not a file")
    folder = p.resolve().parent
    if not os.access(folder, os.W_OK):
        return sqlite3.connect(sqlite_uri(p, immutable="1"), uri=True)
    con = sqlite3.connect(sqlite_uri(p, mode="ro"), uri=True)
    try:
        con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError:
        con.close()
        if not os.access(p, os.W_OK):  # a read-only file in a WAL: its -shm cannot be shared
            return sqlite3.connect(sqlite_uri(p, immutable="1"), uri=True)
        raise
    return con


def safe_name(name: object, what: str) -> str:
    """``name`` if it can be one component of a file name (no separator, not ``.``/``..``, no
    NUL, not empty); else a one-line ``UsageError`` naming ``what`` it was."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "\x00" in name
        or "/" in name
        or "\\" in name
        or os.path.isabs(name)
        or name != name.strip()
    ):
        raise UsageError(f"{what} {name!r} is not a plain file name (no separators, '..' or absolute paths)")
    return name


def inside(folder: str | Path, relative: object, what: str) -> Path:
    """``folder / relative``, refused unless it is a plain relative path that stays inside
    ``folder`` once resolved (symbolic links included)."""
    if not isinstance(relative, str) or not relative or os.path.isabs(relative) or "\x00" in relative:
        raise UsageError(f"{what} {relative!r} is not a relative path inside {folder}")
    base = Path(folder).resolve()
    target = (base / relative).resolve()
    if target == base or base not in target.parents:
        raise UsageError(f"{what} {relative!r} points outside {folder}")
    return Path(folder) / relative


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same existing file (hard links and symbolic links too)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def contains(folder: str | Path, path: str | Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (resolved)."""
    f, p = Path(folder).resolve(), Path(path).resolve()
    return p == f or f in p.parents


def check_output_file(out: str | Path, inputs: tuple[str | Path, ...], option: str) -> Path:
    """Refuse an output file that is one of the inputs, a folder, or in a folder that exists
    as a file; returns it as a Path. Nothing is created."""
    out = Path(out)
    for i in inputs:
        if same_file(out, i):
            raise UsageError(f"{option} {out} is the input {i}; write to another file")
    if out.is_dir():
        raise UsageError(f"{option} {out} is a folder; give a file name")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"{option} {out}: {parent} is a file, not a folder")
        if parent.exists():
            if not os.access(parent, os.W_OK):
                raise UsageError(f"{option} {out}: cannot write in {parent}")
            break
    return out


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename. The
    temporary is ``.NAME.PID.tmp``: one writer per path per process, and a temporary whose
    process is gone is known stale (``studies.runfiles.remove_stale_temporaries``)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def jsonable(value: Any, *, strict: bool = True) -> Any:
    """``value`` as a tree of plain JSON values (dicts with string keys, lists, str, bool, int,
    float, None): numpy scalars and arrays become Python numbers and lists, anything else its
    ``str``. ``strict``: a non-finite float becomes None (strict JSON, what a library's metadata
    needs); otherwise it stays a float (``json.dumps`` writes ``NaN``, which mfbench's readers
    read back as NaN)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v, strict=strict) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, strict=strict) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy scalars and arrays
        return jsonable(value.tolist(), strict=strict)
    if isinstance(value, float):
        return None if strict and not math.isfinite(value) else float(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


class Held:
    """An exclusive ``flock`` held on a file or folder until ``release`` (or the process ends)."""

    def __init__(self, fd: int | None):
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def hold_exclusive(path: str | Path, busy: str) -> Held:
    """Take an exclusive, non-blocking ``flock`` on ``path`` (an existing file or folder), or
    raise ``UsageError(busy)``. ``flock`` on the path itself, not on a lock file: nothing is left
    behind, and the lock of a process killed with SIGKILL goes with it (no stale lock to clear).
    SQLite's own locks are ``fcntl`` ones, independent of this one."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (SQLite's transactions still keep each trial whole)
        return Held(None)
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise UsageError(busy) from None
    return Held(fd)
