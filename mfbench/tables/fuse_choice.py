"""Which trainer ``collect`` uses: ``--fuse auto|off|N``.

Why a policy and not a flag: the fused trainer (``mfbench.training.fused``) is faster than lone
trials on the CPU only when there is something to fuse, it does not train k-fold datasets, it is
not measured faster than lone trials packed on a GPU, and a fused member's seconds are its share
of its group's wall time, so a table should not mix the two trainers. ``auto`` weighs these;
``off`` and ``N`` are the user's explicit choice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mfbench.core.errors import UsageError

#: the largest fused group: every seed and schedule of one configuration on the default
#: ladder (3 seeds x 4 cosine schedules)
DEFAULT_GROUP = 12

#: the most members one fused group may have (a group's tensors grow with it)
MAX_GROUP = 1024


@dataclass(frozen=True)
class FuseChoice:
    """``group_size`` 0: lone trials; else fused groups of at most that many. ``why``: in words."""

    group_size: int
    why: str

    @property
    def trainer(self) -> str:
        return "fused" if self.group_size else "lone"


def parse_fuse(value: Any) -> str | int:
    """``auto``, ``off`` or a group size ``N`` (1 to MAX_GROUP; a string of digits is read as N).
    Anything else is refused in one line."""
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("auto", "off"):
            return v
        if v.isdigit():
            value = int(v)
    if isinstance(value, int) and 1 <= value <= MAX_GROUP:
        return value
    raise UsageError(f"--fuse must be auto, off or a group size between 1 and {MAX_GROUP} (got {value!r})")


def choose_trainer(
    fuse: str | int,
    *,
    cuda: bool,
    folds: int,
    jobs: Sequence[Any],
    table_trainers: set[str],
    groups: Callable[[Sequence[Any], int], list[tuple]],
) -> FuseChoice:
    """The trainer for this sweep. ``table_trainers``: the trainers of the runs the table already
    holds (empty for a new table); ``groups(jobs, size)`` cuts the plan into fused groups.

    ``auto``, in this order: k-fold datasets are trained lone (the fused trainer has no folds);
    a table that already holds runs keeps its trainer (lone if it holds any lone run), so a
    resumed or appended table is never silently mixed; on CUDA lone trials packed on the GPU,
    as before (the fused trainer is not measured faster there); lone when no two trials of the
    plan share their network shapes and batch size (nothing to fuse); else fused groups of at
    most DEFAULT_GROUP."""
    if fuse == "off":
        return FuseChoice(0, "--fuse off")
    if folds:
        return FuseChoice(0, "k-fold datasets are trained lone")
    if fuse != "auto":
        return FuseChoice(int(fuse), f"--fuse {fuse}")
    if "lone" in table_trainers:
        return FuseChoice(0, "auto: the table holds lone runs, and a table is collected with one trainer")
    if "fused" in table_trainers:
        return FuseChoice(DEFAULT_GROUP, "auto: the table holds fused runs, and a table is collected with one trainer")
    if cuda:
        return FuseChoice(0, "auto: on CUDA trials run lone, packed on the GPU (fusing is not measured faster there)")
    if not any(len(g) >= 2 for g in groups(jobs, DEFAULT_GROUP)):
        return FuseChoice(0, "auto: no two trials share their network shapes and batch size")
    return FuseChoice(DEFAULT_GROUP, f"auto: fused groups of at most {DEFAULT_GROUP} on the CPU")
