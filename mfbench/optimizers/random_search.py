"""Random search: the reference optimizer. Every trial is a new configuration at the largest
budget, drawn from the space's own sampler seeded by the run seed."""

from __future__ import annotations

from mfbench.objectives import Result
from mfbench.optimizers.base import Capabilities, Optimizer, Trial
from mfbench.space import space_from_json, space_to_json, to_config


class RandomSearch(Optimizer):
    name = "random"
    capabilities = Capabilities(multi_fidelity=False, continuation=False, parallel_asks=True)

    def __init__(self, space, budgets, seed, **options):
        super().__init__(space, budgets, seed, **options)
        self._space = space_from_json(space_to_json(space))  # own copy: its RNG is ours alone
        self._space.seed(self.seed)

    def ask(self) -> Trial:
        return Trial(config=to_config(self._space.sample_configuration()), budget=self.max_budget)

    def tell(self, trial: Trial, result: Result) -> None:
        pass
