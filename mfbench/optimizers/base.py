"""The ask/tell protocol every optimizer speaks, and the registry ``replay --optimizers`` reads.

The runner owns the loop, the clock, the budget and the seeds: an optimizer only proposes
(``ask``) and learns (``tell``). It never calls the objective and never decides when to stop.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ConfigSpace import ConfigurationSpace

from mfbench.errors import UsageError
from mfbench.objectives import Result


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
    multi_fidelity: bool = False
    continuation: bool = False
    parallel_asks: bool = True


class Optimizer:
    """Base class. Subclasses set ``name`` and ``capabilities`` and implement ask/tell.

    Constructed as ``cls(space, budgets, seed, **options)``: ``space`` is the benchmark's
    ConfigSpace (its ``budgets`` ladder, ascending ints). ``settings()`` is written into the
    run's manifest: every library option that decides behaviour.
    """

    name: ClassVar[str] = "?"
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, space: ConfigurationSpace, budgets: Sequence[int], seed: int, **options: Any):
        self.space = space
        self.budgets = [int(b) for b in budgets]
        if self.budgets != sorted(self.budgets) or len(set(self.budgets)) != len(self.budgets):
            raise UsageError(f"budget ladder must be strictly ascending, got {self.budgets}")
        self.max_budget = self.budgets[-1]
        self.seed = int(seed)
        self.options = options

    def ask(self) -> Trial:
        raise NotImplementedError

    def tell(self, trial: Trial, result: Result) -> None:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, **self.options}

    def check_budget(self, budget: float) -> int:
        """Map a library's budget back onto the ladder, refusing anything off it (several
        libraries compute rungs in floating point and lose or shift one)."""
        for b in self.budgets:
            if abs(float(budget) - b) < 1e-6 * b:
                return b
        raise AssertionError(f"{self.name}: budget {budget} is not on the ladder {self.budgets}")


# --------------------------------------------------------------------------------------
# Registry: name -> "module:Class", imported on first use so that a missing optional
# library only affects the optimizers that need it.
# --------------------------------------------------------------------------------------

REGISTRY: dict[str, str] = {
    "random": "mfbench.optimizers.random_search:RandomSearch",
    "grid": "mfbench.optimizers.grid:GridSearch",
    "tpe": "mfbench.optimizers.optuna_adapter:TPE",
    "tpe-asha": "mfbench.optimizers.optuna_adapter:TPEASHA",
    "tpe-hb": "mfbench.optimizers.optuna_adapter:TPEHyperband",
    "hyperopt-tpe": "mfbench.optimizers.hyperopt_adapter:HyperoptTPE",
}

_FACTORIES: dict[str, Callable[..., Optimizer]] = {}


def register(name: str, target: str) -> None:
    REGISTRY[name] = target


def available() -> list[str]:
    return sorted(REGISTRY)


def get_optimizer_class(name: str) -> type[Optimizer]:
    if name not in REGISTRY:
        raise UsageError(f"unknown optimizer {name!r}; known: {', '.join(available())}")
    module, cls = REGISTRY[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        raise UsageError(f"optimizer {name!r} needs a library that is not installed: {exc}") from None


def make_optimizer(name: str, space: ConfigurationSpace, budgets: Sequence[int], seed: int, **options: Any) -> Optimizer:
    return get_optimizer_class(name)(space, budgets, seed, **options)
