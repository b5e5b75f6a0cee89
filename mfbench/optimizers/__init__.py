"""Optimizers behind one ask/tell protocol; see ``base.REGISTRY`` for the names."""

from mfbench.core.types import Capabilities, Trial
from mfbench.optimizers.base import Optimizer, available, for_objective, get_optimizer_class, make_optimizer

__all__ = ["Capabilities", "Optimizer", "Trial", "available", "for_objective", "get_optimizer_class", "make_optimizer"]
