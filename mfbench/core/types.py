"""The small records every layer exchanges: an evaluation's ``Result``, an optimizer's
``Trial`` and ``Capabilities``, the evaluation modes and the run statuses.

They live here, below everything else, so that an optimizer can speak of a ``Result`` without
importing the objectives, and a table reader can name a status without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: how an evaluation trains: a schedule ending at the budget, or the resumed longest schedule
MODES = ("scratch", "continue")

#: a recorded run's outcome; tables store the index, results the name
STATUSES = ("ok", "diverged", "failed")
OK, DIVERGED, FAILED = 0, 1, 2

#: the metrics a tabular Result reports besides the optimized val error
REPORTED = ("val_error", "test_error", "val_f1", "test_f1", "val_loss", "test_loss", "train_loss")


@dataclass
class Result:
    """What one evaluation answers: the optimized val error, what it cost, and what else it
    reports (test metrics are reported, never optimized)."""

    val_error: float  # the optimized metric (1 - validation accuracy)
    cost_seconds: float
    cost_epochs: int
    metrics: dict[str, float] = field(default_factory=dict)  # test_error, val_f1, test_f1, ...
    status: str = "ok"  # ok / diverged / failed
    curve: dict[str, list[float]] | None = None  # per-epoch values when asked for
    #: which training answered: the recorded seed a table read, the seed of a surrogate's noise
    #: stream, a real training's seed (None where the objective has no such notion)
    training_seed: int | None = None

    @property
    def loss(self) -> float:
        return self.val_error


@dataclass
class Trial:
    """One evaluation an optimizer asks for.

    ``mode`` is ``"scratch"`` (a training whose LR schedule ends at ``budget``) or
    ``"continue"`` (resume the training of ``config`` from ``resume_from`` epochs of the
    longest schedule and pay only the extra epochs). ``info`` is the optimizer's own
    bookkeeping (a library's trial handle, a bracket id, ...): the runner never reads it.
    """

    config: dict[str, Any]
    budget: int
    mode: str = "scratch"
    resume_from: int | None = None
    info: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Capabilities:
    """What an optimizer can do. ``continuation``: it asks ``mode="continue"`` (``for_objective``
    tells it whether the objective can); ``multi_fidelity``: it asks below the largest budget."""

    multi_fidelity: bool = False
    continuation: bool = False
