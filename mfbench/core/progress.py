"""Progress bars for long work (rich), quiet when not on a terminal or when disabled."""

from __future__ import annotations

import sys
import time
from typing import Any


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
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"), TimeRemainingColumn(), transient=False,
            )  # fmt: skip
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.n_epochs, status="")
        return self

    def _status(self) -> str:
        el = time.perf_counter() - self._t0
        eps = self.epochs_done / el if el > 0 else 0.0
        done = sum(self.counts.values())
        return (f"{done}/{self.n_trials} {self.label}  ok {self.counts['ok']}  diverged {self.counts['diverged']}  "
                f"failed {self.counts['failed']}  {eps:.1f} epochs/s")

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
