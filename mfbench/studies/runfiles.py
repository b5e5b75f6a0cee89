"""A study folder's run files: one parquet file per finished run, written atomically, and
their merge.

``runs/<benchmark>__<optimizer>__<seed>.parquet`` holds one run's trajectory (its presence means:
done); ``trajectories.parquet`` is every run concatenated. ``replay`` and ``tune`` write them,
``report`` reads them. A writer killed mid-file leaves only a ``.NAME.PID.tmp`` temporary, which
``remove_stale_temporaries`` clears once its process is gone; a damaged run file is set aside and
its run done again (``set_aside_unreadable_runs``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from mfbench.execution.runner import COLUMNS

log = logging.getLogger(__name__)


def run_filename(label: str, optimizer: str, seed: int) -> str:
    """The file under ``runs/`` that holds one run's trajectory (its presence means: done)."""
    return f"{label}__{optimizer}__{int(seed)}.parquet"


def trajectory_schema():
    import pyarrow as pa

    return pa.schema([(c, getattr(pa, t)()) for c, t in COLUMNS.items()])


def write_parquet_atomic(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def write_run(columns: dict[str, list], path: Path) -> None:
    import pyarrow as pa

    write_parquet_atomic(pa.Table.from_pydict(columns, schema=trajectory_schema()), path)


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the ``.NAME.PID.tmp`` files of ``write_parquet_atomic`` and ``core.io.atomic_write_text`` whose process is gone (a replay
    killed while writing a run or the merge): they hold nothing committed -- the run is missing
    and done again -- and would otherwise pile up. A live process's temporaries are left alone."""
    removed = []
    for f in [*run_dir.glob(".*.tmp"), *(run_dir / "runs").glob(".*.tmp")]:
        try:
            os.kill(int(f.name.rsplit(".", 2)[1]), 0)
        except ProcessLookupError:
            f.unlink(missing_ok=True)
            removed.append(f)
        except (ValueError, IndexError, OSError):  # not ours, or a process of another user
            continue
    return removed


def set_aside_unreadable_runs(run_dir: Path) -> list[Path]:
    """Move per-run files that cannot be read with the run schema (a disk fault, a hand edit)
    to ``RUN_DIR/unreadable/``: their runs are then missing, so this replay reruns them instead
    of every rerun crashing on them. Returns where they went."""
    import pyarrow.parquet as pq

    moved = []
    for f in sorted((run_dir / "runs").glob("*.parquet")):
        try:
            pq.read_table(f, schema=trajectory_schema())
        except Exception as exc:  # noqa: BLE001  (pyarrow raises several kinds for a damaged file)
            aside = run_dir / "unreadable"
            aside.mkdir(exist_ok=True)
            target = aside / f"{f.name}.{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
            os.replace(f, target)
            log.warning("%s is unreadable (%s): moved to %s; its run is done again", f, type(exc).__name__, target)
            moved.append(target)
    return moved


def merge_runs(run_dir: Path) -> Any:
    """Concatenate every per-run file into ``trajectories.parquet`` (sorted by run, then
    completion order) and return it as a pandas DataFrame."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((run_dir / "runs").glob("*.parquet"))
    tables = [pq.read_table(f, schema=trajectory_schema()) for f in files]
    table = pa.concat_tables(tables) if tables else trajectory_schema().empty_table()
    table = table.sort_by(
        [("benchmark", "ascending"), ("optimizer", "ascending"), ("seed", "ascending"), ("eval_index", "ascending")]
    )
    write_parquet_atomic(table, run_dir / "trajectories.parquet")
    return table.to_pandas()
