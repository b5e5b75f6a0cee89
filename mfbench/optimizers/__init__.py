"""Optimizers behind one ask/tell protocol; ``registry.REGISTRY`` names them."""

from mfbench.core.types import Capabilities, Trial
from mfbench.optimizers.base import Optimizer, for_objective
from mfbench.optimizers.registry import available, get_optimizer_class, make_optimizer

__all__ = ["Capabilities", "Optimizer", "Trial", "available", "for_objective", "get_optimizer_class", "make_optimizer"]
