"""DEHB (Awad et al. 2021): differential evolution inside Hyperband brackets, through the
``dehb`` package's own ask/tell (0.1.1; 0.1.2 pins numpy<2).

The fidelity is epochs on the ladder. DEHB evaluates every rung from scratch (a promoted
configuration is trained again at the larger budget), so every trial is ``mode="scratch"``.
DEHB draws from its own seeded ``numpy.random.Generator`` and from the ConfigSpace space's
RNG (a private, seeded copy here): it never touches numpy's global RNG.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from ConfigSpace import ConfigurationSpace
from dehb import DEHB

from mfbench.core.types import Capabilities, Result, Trial
from mfbench.optimizers.adapters._common import ignoring_warnings, seeded_copy
from mfbench.optimizers.base import Optimizer, ladder_eta
from mfbench.training.space import to_config, validate_config

#: dehb 0.1.1 calls ConfigSpace methods that 1.x deprecates (they still work): one warning
#: per hyperparameter per ask would bury everything else
_quiet = partial(ignoring_warnings, DeprecationWarning)


class _QuietDEHB(DEHB):
    """DEHB without the per-instance loguru log file: ``DEHBBase._setup_logger`` adds a file
    sink with ``enqueue=True`` (a writer thread) that is never removed, one per instance."""

    def _setup_logger(self, kwargs: dict[str, Any]) -> None:
        from dehb.optimizers.dehb import logger

        self.output_path = Path(kwargs["output_path"])
        self.logger = logger
        self.log_filename = None


class DEHBOptimizer(Optimizer):
    name = "dehb"
    capabilities: ClassVar[Capabilities] = Capabilities(multi_fidelity=True, continuation=False)
    _option_defaults: ClassVar[dict[str, Any]] = {
        "mutation_factor": 0.5,
        "crossover_prob": 0.5,
        "strategy": "rand1_bin",
        "boundary_fix_type": "random",
        "async_strategy": "immediate",
        "min_clip": None,
        "max_clip": None,
    }

    def __init__(self, space: ConfigurationSpace, budgets: Sequence[int], seed: int, **options: Any):
        opts = self.resolve_options(options, self._option_defaults)
        super().__init__(space, budgets, seed, **options)
        self._opts = opts
        self.eta = ladder_eta(self.budgets)
        self._lib_space = seeded_copy(space, self.seed)  # DEHB draws from the space's RNG
        self._workdir = tempfile.TemporaryDirectory(prefix="mfbench-dehb-")  # DEHB's output_path
        lib_opts = dict(self._opts)
        with _quiet():
            self._dehb = _QuietDEHB(
                cs=self._lib_space,
                min_fidelity=self.budgets[0],
                max_fidelity=self.max_budget,
                eta=self.eta,
                seed=self.seed,
                n_workers=1,
                save_freq="end",
                output_path=self._workdir.name,
                **lib_opts,
            )
        rungs = [self.check_budget(f) for f in self._dehb.fidelities]  # asserts each is on the ladder
        if rungs != self.budgets:
            raise AssertionError(
                f"{self.name}: DEHB's fidelities {list(self._dehb.fidelities)} != ladder {self.budgets}"
            )

    def ask(self) -> Trial:
        with _quiet():
            job = self._dehb.ask()
        config = validate_config(self.space, to_config(job["config"]))
        return Trial(config=config, budget=self.check_budget(job["fidelity"]), mode="scratch", info=job)

    def tell(self, trial: Trial, result: Result) -> None:
        # the failure policy: DEHB has no crash mechanism (it reads +inf fitness as "not evaluated
        # yet" in promotion and selection), so a crash counts as the worst error seen in the run
        loss = self.observe(result).loss
        with _quiet():
            self._dehb.tell(trial.info, {"fitness": loss, "cost": float(result.cost_seconds)})
            self._dehb.clean_inactive_brackets()  # what DEHB.run does after every result

    def settings(self) -> dict[str, Any]:
        d = self._dehb
        return {
            **self.library_header("dehb"),
            "driver": "DEHB.ask/tell (n_workers=1, no Dask client)",
            "eta": self.eta,
            "min_fidelity": self.budgets[0],
            "max_fidelity": self.max_budget,
            "fidelities": [self.check_budget(f) for f in d.fidelities],
            "max_pop_size": {str(self.check_budget(f)): int(n) for f, n in d._max_pop_size.items()},
            "max_age": str(d.max_age),
            "mode": "scratch",
            **self._opts,
        }


__all__ = ["DEHBOptimizer"]
