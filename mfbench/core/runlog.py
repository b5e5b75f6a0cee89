"""A quiet terminal for a study: what the libraries print or warn goes to log files in the
study's folder, the terminal keeps the progress bar and the summary.

Two places make noise. In a job process (a loky worker), the libraries print, log and warn on
file descriptors 1 and 2, some through handlers that captured ``sys.stderr`` at import (loguru,
SMAC's logging setup), some from C: only redirecting the descriptors themselves catches all of
it. ``captured_call`` does that around one run (a loky worker runs one job at a time), writing
``logs/<benchmark>__<optimizer>__<seed>.log`` and returning counts for the manifest and the
messages that mean something to the user (a space exhausted). In the driver, loky warns about
restarted workers and the libraries imported to resolve the optimizers print what they print;
``quiet_terminal`` sends descriptors 1 and 2 to ``replay.log`` for the whole study and keeps a
copy of the real terminal for the progress bar (``terminal()``).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

#: a logged or warned message that says an optimizer ran out of new configurations
NOTABLE = re.compile(r"exhaust", re.IGNORECASE)

_TERMINAL: IO[str] | None = None
_STATUS: Any = None  # the "preparing" spinner, until the progress bar replaces it


def quiet() -> bool:
    """Whether ``quiet_terminal`` is active (the terminal is reserved for progress and summary)."""
    return _TERMINAL is not None


def terminal() -> IO[str]:
    """The user's terminal (standard error) while ``quiet_terminal`` sends everything else to a
    log; ``sys.stderr`` otherwise."""
    return _TERMINAL if _TERMINAL is not None else sys.stderr


def preparing(text: str) -> None:
    """Say at once, on a terminal, that the study is starting (loading the benchmarks and
    importing every optimizer's library takes seconds): a spinner that the progress bar replaces
    (and that leaves nothing behind: a refused study still ends with its one line)."""
    global _STATUS
    out = terminal()
    if out.isatty():
        from rich.console import Console
        from rich.live import Live
        from rich.spinner import Spinner

        # rich's live displays route Python-level stdout/stderr writes to the terminal unless
        # told not to: in a quiet study those belong in replay.log like the rest (see RunProgress)
        _STATUS = Live(
            Spinner("dots", text),
            console=Console(file=out),
            transient=True,
            refresh_per_second=12.5,
            redirect_stdout=not quiet(),
            redirect_stderr=not quiet(),
        )
        _STATUS.start()


def prepared() -> None:
    """Remove the spinner (before the progress bar starts: rich shows one live display at once)."""
    global _STATUS
    if _STATUS is not None:
        _STATUS.stop()
        _STATUS = None


@contextmanager
def _descriptors_to(fileno: int) -> Iterator[None]:
    """Point file descriptors 1 and 2 at ``fileno`` for the block (Python's buffers flushed on
    both sides of the switch)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(fileno, 1)
        os.dup2(fileno, 2)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, ValueError, OSError):
                pass
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


class _Recorder(logging.Handler):
    """Writes WARNING and above of every logger that reaches the root to the log (what Python's
    last-resort handler would have printed) and keeps the notable messages."""

    def __init__(self, stream: IO[str], counts: dict[str, Any]):
        super().__init__(logging.WARNING)
        self.stream, self.counts = stream, counts
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
            self.counts["logged"] += 1
            if NOTABLE.search(msg) and msg not in self.counts["notable"]:
                self.counts["notable"].append(msg)
            self.stream.write(self.format(record) + "\n")
            self.stream.flush()
        except Exception:  # a log line must never fail a run
            self.handleError(record)


@contextmanager
def capture(path: str | Path | None) -> Iterator[dict[str, Any]]:
    """Everything this process prints, logs or warns during the block goes to ``path`` (appended;
    the file is removed again when nothing came). Yields the counts: ``lines`` written,
    ``warnings`` (Python warnings), ``logged`` (log records of WARNING and above) and ``notable``
    (distinct messages about an exhausted space). ``path=None``: nothing is captured."""
    counts: dict[str, Any] = {"lines": 0, "warnings": 0, "logged": 0, "notable": []}
    if path is None:
        yield counts
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = path.stat().st_size if path.exists() else 0
    with open(path, "a", buffering=1) as log_file:

        def show(
            message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None
        ) -> None:
            counts["warnings"] += 1
            text = str(message)
            if NOTABLE.search(text) and text not in counts["notable"]:
                counts["notable"].append(text)
            log_file.write(warnings.formatwarning(message, category, filename, lineno, line))
            log_file.flush()

        root = logging.getLogger()
        recorder = _Recorder(log_file, counts)
        with warnings.catch_warnings():  # also resets "once per location": each run logs its own
            warnings.showwarning = show
            root.addHandler(recorder)
            try:
                with _descriptors_to(log_file.fileno()):
                    yield counts
            finally:
                root.removeHandler(recorder)
    text = path.read_bytes()[start:].decode(errors="replace")
    counts["lines"] = sum(1 for line in text.splitlines() if line.strip())
    if path.stat().st_size == 0:
        path.unlink()


def captured_call(fn: Callable[[Any], dict[str, Any]], job: Any, path: str | None) -> dict[str, Any]:
    """``fn(job)`` with its output in ``path``; the result gains ``log`` (the counts). Runs in
    the job's process."""
    with capture(path) as counts:
        out = fn(job)
    out["log"] = {"file": path if counts["lines"] else None, **counts}
    return out


@contextmanager
def quiet_terminal(log_path: str | Path, enabled: bool = True) -> Iterator[None]:
    """For the block, descriptors 1 and 2 (and so every print, warning and log line of this
    process and of the processes it starts) go to a temporary file that is appended to
    ``log_path`` at the end, when ``log_path``'s folder exists and the block was not refused as
    bad input (a refused study -- bad input, or another replay writing the folder -- changes
    nothing there); ``terminal()`` is the real standard error meanwhile. When the
    block fails with anything but a bad-input error, what was captured is shown, so that a crash
    is never silent. ``enabled=False`` (``--verbose``): everything stays on the terminal."""
    global _TERMINAL
    if not enabled or _TERMINAL is not None:
        try:
            yield
        finally:
            prepared()
        return
    from mfbench.core.errors import UsageError

    tmp = tempfile.TemporaryFile(mode="w+b")
    term_fd = os.dup(2)
    _TERMINAL = os.fdopen(term_fd, "w", buffering=1)
    failed: BaseException | None = None
    t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    try:
        with _descriptors_to(tmp.fileno()):
            yield
    except BaseException as exc:
        failed = exc
        raise
    finally:
        prepared()
        term, _TERMINAL = _TERMINAL, None
        tmp.seek(0)
        data = tmp.read()
        tmp.close()
        log_path = Path(log_path)
        refused = isinstance(failed, UsageError)  # a refused command changes nothing, not even a log
        if data and log_path.parent.is_dir() and not refused:
            with open(log_path, "ab") as f:
                f.write(f"--- {t0}: {' '.join(sys.argv)}\n".encode() + data)
        if failed is not None and not isinstance(failed, (UsageError, KeyboardInterrupt)) and data:
            term.write(data.decode(errors="replace"))
        term.close()


def notices(runs: list[dict[str, Any]]) -> list[str]:
    """One line per optimizer whose runs exhausted a finite space (they stopped early, or went on
    re-evaluating known configurations): the warnings worth the user's attention, once each."""
    per_opt: dict[str, dict[str, Any]] = {}
    for r in runs:
        log = r.get("log") or {}
        stopped = r.get("stopped_by") == "exhausted"
        if not (stopped or log.get("notable")):
            continue
        n = per_opt.setdefault(r["optimizer"], {"runs": 0, "stopped": 0, "benchmarks": set(), "message": None})
        n["runs"] += 1
        n["stopped"] += stopped
        n["benchmarks"].add(r["benchmark"])
        n["message"] = n["message"] or (log.get("notable") or [None])[0]
    total = {}
    for r in runs:
        total[r["optimizer"]] = total.get(r["optimizer"], 0) + 1
    lines = []
    for opt, n in sorted(per_opt.items()):
        what = (
            f"stopped early in {n['stopped']}"
            if n["stopped"] == n["runs"]
            else f"ran out of new configurations in {n['runs']} (stopped early in {n['stopped']})"
        )
        detail = f": {n['message']}" if n["message"] else ": every configuration evaluated"
        lines.append(
            f"{opt}: exhausted the space of {', '.join(sorted(n['benchmarks']))}, {what} of its "
            f"{total[opt]} runs{detail}"
        )
    return lines
