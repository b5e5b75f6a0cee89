"""Hyperband and BOHB from hpbandster 0.7.4, driven in-process (no Pyro, no threads).

hpbandster's ``Master`` starts a Pyro dispatcher thread in its constructor, and its documented
NameServer + Worker run crashes under ConfigSpace 1.x (numpy scalars in configs). So the adapter
plays the master's part itself, with the library's own pieces: its ``get_next_iteration`` (the
bracket sizes), its ``SuccessiveHalving`` iterations (what runs next, who is promoted), its config
generators (``RandomSampling`` for Hyperband, the KDE of ``BOHB``), and the scheduling loop of
``Master.run`` (ask every active iteration in order; start the next iteration when none has a run
ready). Every rung is a training from scratch at that budget, as in the BOHB paper.

hpbandster and statsmodels draw from numpy's *global* RNG. Each instance owns a private copy of
that state and swaps it in around every library call, so one instance is deterministic whatever
else the process draws, and two instances in one process do not disturb each other.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
from ConfigSpace import ConfigurationSpace
from hpbandster.core.dispatcher import Job
from hpbandster.optimizers.bohb import BOHB as _HpBandSterBOHB
from hpbandster.optimizers.config_generators.bohb import BOHB as _BOHBConfigGenerator
from hpbandster.optimizers.config_generators.random_sampling import RandomSampling
from hpbandster.optimizers.hyperband import HyperBand as _HpBandSterHyperBand

from mfbench.core.types import Capabilities, Result, Trial
from mfbench.optimizers.adapters._common import from_ordinal_indices, hpbandster_rng, seeded_copy
from mfbench.optimizers.base import Optimizer, ladder_eta
from mfbench.training.space import space_from_json, space_to_json

logger = logging.getLogger(__name__)


def hpbandster_rungs(min_budget: float, max_budget: float, eta: float) -> tuple[int, np.ndarray]:
    """``(max_SH_iter, budgets)`` exactly as hpbandster 0.7.4 computes them in
    ``HyperBand.__init__`` / ``BOHB.__init__`` (which cannot be constructed without starting the
    Pyro dispatcher); the adapters assert that these rungs equal the ladder."""
    max_sh_iter = -int(np.log(min_budget / max_budget) / np.log(eta)) + 1
    budgets = max_budget * np.power(eta, -np.linspace(max_sh_iter - 1, 0, max_sh_iter))
    return max_sh_iter, budgets


def ordinals_as_indices(space: ConfigurationSpace) -> tuple[ConfigurationSpace, dict[str, list[Any]]]:
    """The space with every ordinal replaced by an integer index ``0..n-1`` (order kept), and
    the sequences to map back. Conditions and forbidden clauses on an ordinal take the index."""
    doc = json.loads(space_to_json(space))
    seqs: dict[str, list[Any]] = {}
    for i, hp in enumerate(doc["hyperparameters"]):
        if hp["type"] == "ordinal":
            seq = list(hp["sequence"])
            seqs[hp["name"]] = seq
            doc["hyperparameters"][i] = {
                "type": "uniform_int",
                "name": hp["name"],
                "lower": 0,
                "upper": len(seq) - 1,
                "default_value": seq.index(hp["default_value"]),
                "log": False,
                "meta": hp.get("meta"),
            }

    def remap(node: Any) -> None:
        if isinstance(node, list):
            for n in node:
                remap(n)
        elif isinstance(node, dict):
            name = node.get("parent", node.get("name"))
            if name in seqs and ("value" in node or "values" in node):
                if "value" in node:
                    node["value"] = seqs[name].index(node["value"])
                if "values" in node:
                    node["values"] = [seqs[name].index(v) for v in node["values"]]
            for key in ("conditions", "clauses", "clause"):
                if key in node:
                    remap(node[key])

    if seqs:
        remap(doc["conditions"])
        remap(doc["forbiddens"])
    out = space_from_json(json.dumps(doc))
    return out, seqs


class _HpBandSter(Optimizer):
    """The master loop of ``hpbandster.core.master.Master.run``, one ask/tell at a time."""

    on_crash = "hpbandster's crash path (loss = +inf: CRASHED, +inf in the KDE)"

    capabilities: ClassVar[Capabilities] = Capabilities(multi_fidelity=True, continuation=False)
    _library_master: ClassVar[type]
    _option_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, space: ConfigurationSpace, budgets: Sequence[int], seed: int, **options: Any):
        opts = self.resolve_options(options, self._option_defaults)
        super().__init__(space, budgets, seed, **options)
        self._opts = opts
        self.eta = ladder_eta(self.budgets)
        self.min_budget, self.max_budget = self.budgets[0], self.budgets[-1]
        max_sh_iter, rungs = hpbandster_rungs(self.min_budget, self.max_budget, self.eta)
        mapped = [self.check_budget(r) for r in rungs]  # asserts every rung is on the ladder
        if mapped != self.budgets:
            raise AssertionError(f"{self.name}: hpbandster's rungs {list(rungs)} != ladder {self.budgets}")
        self._rungs = rungs
        # numpy's global RNG state, owned by this instance (see the module docstring)
        self._np_state = np.random.RandomState(self.seed).get_state()
        self._lib_space, self._ordinals = self._library_space(space)
        with self._library_rng():
            cg = self._config_generator()
        # what get_next_iteration reads from a Master
        self._master = SimpleNamespace(max_SH_iter=max_sh_iter, eta=self.eta, budgets=rungs, config_generator=cg)
        self._iterations: dict[int, Any] = {}  # active (unfinished) SuccessiveHalving iterations
        self._n_iterations = 0

    # -- what the subclasses choose ------------------------------------------------------------
    def _library_space(self, space: ConfigurationSpace) -> tuple[ConfigurationSpace, dict[str, list]]:
        """The library's own copy of the space, seeded, and the ordinal sequences it maps."""
        return seeded_copy(space, self.seed), {}

    def _config_generator(self) -> Any:
        raise NotImplementedError

    # -- plumbing -------------------------------------------------------------------------------
    def _library_rng(self) -> AbstractContextManager[None]:
        return hpbandster_rng(self)  # the library draws from numpy's global generator: ours alone

    def _from_library(self, config: dict[str, Any]) -> dict[str, Any]:
        return from_ordinal_indices(self.space, config, self._ordinals)

    @property
    def config_generator(self) -> Any:
        return self._master.config_generator

    def ask(self) -> Trial:
        with self._library_rng():
            next_run = None
            while next_run is None:
                for it in list(self._iterations.values()):
                    next_run = it.get_next_run()
                    if next_run is not None:
                        break
                    if it.is_finished:  # finishing happens inside get_next_run
                        del self._iterations[it.HPB_iter]
                if next_run is None:
                    index = self._n_iterations
                    self._iterations[index] = self._library_master.get_next_iteration(self._master, index)
                    self._n_iterations += 1
                    next_run = self._iterations[index].get_next_run()
                    if next_run is None:
                        raise RuntimeError(f"{self.name}: a new hpbandster iteration ({index}) has nothing to run")
            config_id, config, budget = next_run
        return Trial(
            config=self._from_library(config),
            budget=self.check_budget(budget),
            mode="scratch",
            info={"config_id": config_id, "config": config, "budget": budget},
        )

    def tell(self, trial: Trial, result: Result) -> None:
        info = trial.info
        job = Job(info["config_id"], config=info["config"], budget=info["budget"])
        obs = self.observe(result)
        # the failure policy: a crash takes hpbandster's own crash path (loss=+inf: CRASHED in the
        # iteration, +inf in the KDE's bad set)
        job.result = {"loss": float("inf") if obs.crashed else obs.loss, "info": {}}
        with self._library_rng():
            self._iterations[info["config_id"][0]].register_result(job)
            self.config_generator.new_result(job)

    def settings(self) -> dict[str, Any]:
        out = {
            **self.library_header("hpbandster"),
            "driver": "in-process Master.run loop (no Pyro)",
            "eta": self.eta,
            "min_budget": self.min_budget,
            "max_budget": self.max_budget,
            "max_SH_iter": self._master.max_SH_iter,
            "rungs": [self.check_budget(r) for r in self._rungs],
            "mode": "scratch",
            "global_numpy_rng": "private state per instance",
        }
        out.update(self._opts)
        if self._ordinals:
            out["space_conversion"] = {"ordinal_to_integer_index": sorted(self._ordinals)}
        return out


class Hyperband(_HpBandSter):
    """Hyperband (Li et al.): random configurations, successive halving across brackets."""

    name = "hyperband"
    _library_master = _HpBandSterHyperBand

    def _config_generator(self) -> Any:
        return RandomSampling(self._lib_space)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "config_generator": "RandomSampling"}


class BOHB(_HpBandSter):
    """BOHB (Falkner et al. 2018): Hyperband with a TPE-like KDE model per budget.

    hpbandster's KDE refuses ordinal hyperparameters: they are handed to it as integer indices
    (their order kept) and mapped back, which ``settings()`` records."""

    name = "bohb"
    _library_master = _HpBandSterBOHB
    _option_defaults = {
        "min_points_in_model": None,
        "top_n_percent": 15,
        "num_samples": 64,
        "random_fraction": 1 / 3,
        "bandwidth_factor": 3,
        "min_bandwidth": 1e-3,
    }

    def _library_space(self, space: ConfigurationSpace) -> tuple[ConfigurationSpace, dict[str, list]]:
        lib_space, seqs = ordinals_as_indices(space)  # a new space, built from JSON
        lib_space.seed(self.seed)
        return lib_space, seqs

    def _config_generator(self) -> Any:
        return _BOHBConfigGenerator(configspace=self._lib_space, **self._opts)

    def ask(self) -> Trial:
        trial = super().ask()
        # hpbandster falls back to a random configuration, with only a log line, when its KDE
        # sampling fails: record which proposals came from the model so that tests can see it
        datum = self._iterations[trial.info["config_id"][0]].data[trial.info["config_id"]]
        trial.info["model_based_pick"] = bool(datum.config_info.get("model_based_pick", False))
        return trial

    def settings(self) -> dict[str, Any]:
        cg = self.config_generator
        return {
            **super().settings(),
            "config_generator": "BOHB KDE",
            "min_points_in_model": cg.min_points_in_model,
            "kde_bandwidth": "normal_reference",
        }


__all__ = ["BOHB", "Hyperband", "hpbandster_rungs", "ordinals_as_indices"]
