"""Saving the report's figures in the background while the report goes on computing.

Writing a figure (``plots.save_figure``: a PNG at 150 dpi and an SVG) is most of a report's
time, and the next numbers do not depend on it. ``FigureSaver.submit`` forks a child process
that holds the finished figure as it is in memory and writes its files, while this process
closes the figure and moves on; ``finish`` waits for the children and reads each PNG back for
the base64 that index.html inlines. The files are those that saving in this process writes
(same figure state, same code). Rules:

- At most ``workers`` children at a time: by default one fewer than the CPUs this process may
  use, at most 4; with one CPU, no ``os.fork`` (not POSIX) or ``MFBENCH_FIGURE_WORKERS=0``,
  figures are saved here, one after the other, as before.
- Only a process with one Python thread forks: with others running (a Dask client or a
  thread pool left by a study in the same process) a fork could copy a lock one of them
  holds, so figures are then saved here.
- A child waits for nothing but itself: the parent waits for its own children by process id
  (never for "any child", which could be a worker of a pool that belongs to someone else).
- A child that fails is an error of the report, raised by ``finish`` with the figure's name.
"""

from __future__ import annotations

import base64
import os
import sys
import threading
import traceback
from pathlib import Path

import matplotlib.pyplot as plt

from mfbench.analysis import plots

MAX_WORKERS = 4


def default_workers() -> int:
    """Children at a time: ``MFBENCH_FIGURE_WORKERS`` if set, else usable CPUs - 1 (at most 4)."""
    env = os.environ.get("MFBENCH_FIGURE_WORKERS", "").strip()
    if env:
        return max(0, int(env))
    if not hasattr(os, "fork"):
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(cpus - 1, MAX_WORKERS))


class FigureSaver:
    """``submit`` figures, then ``finish`` (or leave the ``with`` block) before using their files."""

    def __init__(self, workers: int | None = None):
        self.workers = default_workers() if workers is None else workers
        self._running: dict[int, tuple[str, dict[str, str]]] = {}  # pid -> (stem, files), oldest first
        self._done: list[tuple[str, dict[str, str], int]] = []

    def submit(self, fig, folder: Path, stem: str) -> dict[str, str]:
        """Save ``fig`` as ``folder/stem.png`` and ``.svg``; the returned dict (``plots.save_figure``'s)
        has its ``base64`` only after ``finish``."""
        if self.workers <= 0 or threading.active_count() > 1:
            return plots.save_figure(fig, folder, stem)
        while len(self._running) >= self.workers:
            self._wait_oldest()
        folder.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: write the files and leave without running the parent's exit code
            code = 0
            try:
                plots.save_figure(fig, folder, stem)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stderr.flush()
                os._exit(code)
        plt.close(fig)
        files = {"png": str(folder / f"{stem}.png"), "svg": str(folder / f"{stem}.svg"), "base64": ""}
        self._running[pid] = (stem, files)
        return files

    def _wait_oldest(self) -> None:
        pid = next(iter(self._running))
        stem, files = self._running.pop(pid)
        _, status = os.waitpid(pid, 0)
        self._done.append((stem, files, os.waitstatus_to_exitcode(status)))

    def finish(self) -> None:
        """Wait for every child; fill in each PNG's base64; raise if a figure could not be saved."""
        while self._running:
            self._wait_oldest()
        failed = [stem for stem, _, code in self._done if code != 0]
        if failed:
            self._done.clear()
            raise RuntimeError(f"saving figure(s) failed: {', '.join(failed)} (traceback above)")
        for _, files, _ in self._done:
            files["base64"] = base64.b64encode(Path(files["png"]).read_bytes()).decode("ascii")
        self._done.clear()

    def __enter__(self) -> FigureSaver:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        else:  # an error already: reap the children, keep that error
            while self._running:
                self._wait_oldest()
            self._done.clear()
