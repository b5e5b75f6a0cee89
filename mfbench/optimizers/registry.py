"""The optimizers ``replay --optimizers`` knows by name: name -> ``"module:Class"``, imported on
first use so that a missing optional library only affects the optimizers that need it; and
which framework decides for each (the report groups optimizers by it)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from ConfigSpace import ConfigurationSpace

from mfbench.core.errors import UsageError
from mfbench.optimizers.base import Optimizer

REGISTRY: dict[str, str] = {
    "random": "mfbench.optimizers.native.random_search:RandomSearch",
    "grid": "mfbench.optimizers.native.grid:GridSearch",
    "tpe": "mfbench.optimizers.adapters.optuna:TPE",
    "tpe-asha": "mfbench.optimizers.adapters.optuna:TPEASHA",
    "tpe-hb": "mfbench.optimizers.adapters.optuna:TPEHyperband",
    "hyperopt-tpe": "mfbench.optimizers.adapters.hyperopt:HyperoptTPE",
    "smac-bo-gp": "mfbench.optimizers.adapters.smac:SmacBOGP",
    "smac-bo-rf": "mfbench.optimizers.adapters.smac:SmacBORF",
    "smac-hb": "mfbench.optimizers.adapters.smac:SmacHyperband",
    "hyperband": "mfbench.optimizers.adapters.hpbandster:Hyperband",
    "bohb": "mfbench.optimizers.adapters.hpbandster:BOHB",
    "kt-bo": "mfbench.optimizers.adapters.keras_tuner:KerasTunerBO",
    "kt-hyperband": "mfbench.optimizers.adapters.keras_tuner:KerasTunerHyperband",
    "dehb": "mfbench.optimizers.adapters.dehb:DEHBOptimizer",
    "ga": "mfbench.optimizers.native.ga:GeneticAlgorithm",
    "ga-mf": "mfbench.optimizers.native.ga:MultiFidelityGA",
    "optiml": "mfbench.optimizers.native.optiml:OptiML",
    "ray-asha": "mfbench.optimizers.adapters.ray:RayASHA",
    "ray-hyperband": "mfbench.optimizers.adapters.ray:RayHyperband",
    "ray-bohb": "mfbench.optimizers.adapters.ray:RayBOHB",
}


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
        from mfbench.core.extras import missing

        raise missing(exc, f"optimizer {name!r}") from None


def make_optimizer(
    name: str, space: ConfigurationSpace, budgets: Sequence[int], seed: int, **options: Any
) -> Optimizer:
    return get_optimizer_class(name)(space, budgets, seed, **options)


#: the library that makes the decisions, by adapter module (``mfbench.optimizers.adapters.<module>``)
_ADAPTER_FRAMEWORK = {
    "optuna": "Optuna",
    "hyperopt": "hyperopt",
    "smac": "SMAC",
    "hpbandster": "hpbandster",
    "keras_tuner": "Keras Tuner",
    "dehb": "DEHB",
    "ray": "Ray Tune",
}
#: fixed display order of the frameworks (mfbench's own last)
FRAMEWORKS = ("Optuna", "hyperopt", "SMAC", "hpbandster", "Keras Tuner", "DEHB", "Ray Tune", "mfbench")


def framework_of(optimizer: str) -> str:
    """The library that decides for ``optimizer``: its adapter module in the registry, ``ray-*``
    for Ray Tune, else mfbench's own (random, grid, GA, OptiML and unknown names)."""
    if optimizer.startswith("ray-"):
        return "Ray Tune"
    module = REGISTRY.get(optimizer, "").split(":")[0]
    package, _, name = module.rpartition(".")
    return _ADAPTER_FRAMEWORK.get(name, "mfbench") if package == "mfbench.optimizers.adapters" else "mfbench"
