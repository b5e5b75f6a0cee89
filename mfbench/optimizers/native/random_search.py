"""Random search: the reference optimizer. Every trial is a new configuration at the largest
budget, drawn from the space's own sampler seeded by the run seed."""

from __future__ import annotations

from mfbench.core.types import Capabilities, Result, Trial
from mfbench.optimizers.adapters._common import seeded_copy
from mfbench.optimizers.base import Optimizer
from mfbench.training.space import to_config


class RandomSearch(Optimizer):
    name = "random"
    capabilities = Capabilities(multi_fidelity=False, continuation=False)
    on_crash = "nothing: random search learns nothing"

    def __init__(self, space, budgets, seed, **options):
        super().__init__(space, budgets, seed, **options)
        self._space = seeded_copy(space, self.seed)  # its RNG is ours alone

    def ask(self) -> Trial:
        return Trial(config=to_config(self._space.sample_configuration()), budget=self.max_budget)

    def tell(self, trial: Trial, result: Result) -> None:
        pass
