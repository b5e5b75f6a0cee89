"""Another revision of this repository, checked out for a side-by-side benchmark.

    with checkout("HEAD~1") as path: ...   # a git revision: a temporary detached worktree
    with checkout("/some/dir") as path: ... # an existing checkout, used as it is

The benchmark scripts run the old code with ``PYTHONPATH=path`` in a child process, alternating
with this checkout, so that both see the same machine load.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def checkout(rev_or_path: str) -> Iterator[Path]:
    path = Path(rev_or_path)
    if path.is_dir():
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix="mfbench_old_"))
    worktree = tmp / "checkout"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), rev_or_path],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield worktree
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)], check=False)
        with contextlib.suppress(OSError):
            tmp.rmdir()
