"""Progress bars for long work (rich), quiet when not on a terminal or when disabled."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

log = logging.getLogger(__name__)


class TrialProgress:
    """Trials done / failed / diverged, epochs per second and time left (by epochs)."""

    def __init__(self, n_trials: int, n_epochs: int, enabled: bool = True, label: str = "trials"):
        self.n_trials, self.n_epochs = n_trials, max(1, n_epochs)
        self.enabled = enabled
        self.counts = {"ok": 0, "diverged": 0, "failed": 0}
        self.epochs_done = 0
        self.label = label
        self._progress: Any = None
        self._t0 = time.perf_counter()
        self._last_line = 0.0

    def __enter__(self) -> TrialProgress:
        if self.enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.n_epochs, status="")
        return self

    def _status(self) -> str:
        el = time.perf_counter() - self._t0
        eps = self.epochs_done / el if el > 0 else 0.0
        done = sum(self.counts.values())
        return (
            f"{done}/{self.n_trials} {self.label}  ok {self.counts['ok']}  diverged {self.counts['diverged']}  "
            f"failed {self.counts['failed']}  {eps:.1f} epochs/s"
        )

    def advance(self, status: str, epochs: int) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        self.epochs_done += epochs
        if self._progress is not None:
            self._progress.update(self._task, advance=epochs, status=self._status())
        elif self.enabled and time.perf_counter() - self._last_line > 30:
            # not a terminal (a log file, CI): one line every 30 s
            self._last_line = time.perf_counter()
            el = time.perf_counter() - self._t0
            left = (self.n_epochs - self.epochs_done) * el / max(self.epochs_done, 1)
            print(f"{self._status()}  ~{left / 60:.0f} min left", file=sys.stderr, flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()


class RunProgress:
    """A progress bar over runs (rich on a terminal; one log line every 30 s otherwise)."""

    def __init__(self, total: int, enabled: bool = True):
        self.total, self.enabled = total, enabled
        self.counts = {"ok": 0, "failed": 0}
        self._bar: Any = None
        self._t0 = self._last = time.perf_counter()

    def __enter__(self) -> RunProgress:
        from mfbench.core.runlog import prepared, quiet, terminal

        prepared()
        if self.enabled and terminal().isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("[bold]runs"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeRemainingColumn(),
                console=Console(file=terminal()),
                # by default rich sends what Python writes to sys.stdout/stderr (a warning from
                # loky's thread that restarts a worker, a library's print) above the bar, on the
                # terminal; in a quiet study it must reach the descriptors that go to replay.log
                redirect_stdout=not quiet(),
                redirect_stderr=not quiet(),
            )
            self._bar.start()
            self._task = self._bar.add_task("runs", total=self.total, status="")
        elif self.enabled:
            self._line()
        return self

    def _line(self) -> None:
        """The bar as a line (not a terminal: a file, CI): on the terminal while the libraries'
        output goes to the study's log (``runlog.quiet_terminal``), else a log line."""
        from mfbench.core.runlog import quiet, terminal

        self._last = time.perf_counter()
        done, el = sum(self.counts.values()), self._last - self._t0
        left = f", ~{(self.total - done) * el / done / 60:.1f} min left" if done else ""
        line = f"runs {done}/{self.total}: ok {self.counts['ok']}, failed {self.counts['failed']}; {el:.0f} s{left}"
        print(line, file=terminal(), flush=True) if quiet() else log.info("%s", line)

    def advance(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        text = f"ok {self.counts['ok']}  failed {self.counts['failed']}"
        if self._bar is not None:
            self._bar.update(self._task, advance=1, status=text)
        elif self.enabled and (time.perf_counter() - self._last > 30 or sum(self.counts.values()) == self.total):
            self._line()

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
