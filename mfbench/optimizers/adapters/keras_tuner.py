"""Keras Tuner's Bayesian optimization and Hyperband oracles, driven on their own through
``create_trial`` / ``update_trial`` / ``end_trial`` (no Tuner, no model, no TensorFlow).

The ConfigSpace space becomes keras-tuner ``HyperParameters``: categoricals are unordered
``Choice``s, ordinals ordered ``Choice``s, constants ``Fixed``, numbers ``Int`` / ``Float`` with
their log scale, and every ``parent == v`` / ``parent in {...}`` condition a
``conditional_scope``. Values come back with inactive hyperparameters absent.

Hyperband's ``tuner/epochs`` are ``ceil(max_epochs / factor**k)`` with a fixed ``min_epochs = 1``.
Hyperband (Li et al.) is defined in units of resource, and a ladder ``r0 * eta**k`` is Keras
Tuner's ladder ``1, eta, ..., eta**K`` counted in units of ``r0``: the oracle gets ``max_epochs =
max / r0`` and ``factor = eta`` and each of its epochs is ``r0`` of the benchmark's budget
(``epoch_unit`` in the settings; 1 for ladders that start at 1, where nothing changes). The
library still decides every bracket, promotion and budget; the rungs it yields, times the unit,
must be the ladder exactly (checked at construction, one line otherwise). Keras Tuner's
Hyperband *continues* a promoted trial from the checkpoint of the trial it was promoted from
(``tuner/initial_epoch``): its trials are ``mode="continue"`` with ``resume_from =
tuner/initial_epoch`` (0 for a bracket's first round, i.e. the first epochs of the longest
schedule), which is what the library does.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from functools import partial
from typing import Any, ClassVar


def _default_backend() -> str:
    """keras-tuner imports keras, which needs a backend. The oracles never train, so the lightest
    one does: numpy (which keras 3.15 builds on jax's CPU library, 0.4 GB, against torch's 1-5 GB;
    the ``optimizers`` extra installs it); torch where only torch is installed. A test checks
    that both give the same proposals."""
    import importlib.util

    for backend, module in (("numpy", "jax"), ("torch", "torch")):
        if importlib.util.find_spec(module) is not None:
            return backend
    return "numpy"


os.environ.setdefault("KERAS_BACKEND", _default_backend())  # a backend the user chose is kept

import keras_tuner as kt  # noqa: E402
from ConfigSpace import ConfigurationSpace  # noqa: E402
from ConfigSpace.hyperparameters import (  # noqa: E402
    CategoricalHyperparameter,
    Constant,
    OrdinalHyperparameter,
    UniformFloatHyperparameter,
    UniformIntegerHyperparameter,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from mfbench.core.errors import SearchExhausted, UsageError  # noqa: E402
from mfbench.core.types import (  # noqa: E402
    Capabilities,
    Result,  # noqa: E402
    Trial,
)
from mfbench.optimizers.adapters._common import ignoring_warnings  # noqa: E402
from mfbench.optimizers.base import Optimizer, ladder_eta  # noqa: E402
from mfbench.training.space import activation_scopes, native, to_config, validate_config  # noqa: E402

OBJECTIVE = "val_error"
_TUNER_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket", "tuner/round", "tuner/trial_id")
#: keras-tuner 1.4.8 calls ``threading.currentThread().getName()`` (deprecated) on every oracle
#: call, and scikit-learn warns when the GP's length scale reaches its bound: noise that would
#: bury everything else
_quiet = partial(ignoring_warnings, DeprecationWarning, ConvergenceWarning)


def _scopes(space: ConfigurationSpace) -> dict[str, list[tuple[str, list[Any]]]]:
    """Per child, the (parent, allowed values) pairs that must all hold for it to be active."""
    out, other = activation_scopes(space)
    if other:
        raise UsageError(
            f"keras-tuner's conditional scopes express only 'parent in values'; space {space.name!r} has {other[0]}"
        )
    if space.forbidden_clauses:
        raise UsageError(f"keras-tuner has no forbidden clauses; space {space.name!r} has some")
    return out


def to_keras_tuner(space: ConfigurationSpace) -> kt.HyperParameters:
    """The space as keras-tuner ``HyperParameters`` (parents before children)."""
    hps = kt.HyperParameters()
    scopes = _scopes(space)
    for name in space.keys():  # ConfigSpace keeps them in topological order
        hp = space[name]
        with ExitStack() as stack:
            for parent, values in scopes.get(name, []):
                stack.enter_context(hps.conditional_scope(parent, values))
            if isinstance(hp, Constant):
                hps.Fixed(name, native(hp.value))
            elif isinstance(hp, CategoricalHyperparameter):
                if hp.weights is not None and len(set(hp.weights)) > 1:
                    raise UsageError(f"keras-tuner Choice has no weights: {name} has {hp.weights}")
                hps.Choice(name, [native(v) for v in hp.choices], ordered=False, default=native(hp.default_value))
            elif isinstance(hp, OrdinalHyperparameter):
                hps.Choice(name, [native(v) for v in hp.sequence], ordered=True, default=native(hp.default_value))
            elif isinstance(hp, UniformIntegerHyperparameter):
                hps.Int(
                    name,
                    int(hp.lower),
                    int(hp.upper),
                    sampling="log" if hp.log else "linear",
                    default=int(hp.default_value),
                )
            elif isinstance(hp, UniformFloatHyperparameter):
                hps.Float(
                    name,
                    float(hp.lower),
                    float(hp.upper),
                    sampling="log" if hp.log else "linear",
                    default=float(hp.default_value),
                )
            else:
                raise UsageError(f"keras-tuner has no counterpart of {type(hp).__name__} ({name})")
    return hps


def from_keras_tuner(space: ConfigurationSpace, values: dict[str, Any]) -> dict[str, Any]:
    """A keras-tuner trial's values (active ones only) as a validated config of ``space``."""
    cfg = to_config({k: v for k, v in values.items() if k not in _TUNER_KEYS})
    for name, v in cfg.items():
        hp = space[name]
        if isinstance(hp, (UniformFloatHyperparameter, UniformIntegerHyperparameter)):
            # keras-tuner maps probabilities through exp/log: keep the bound exactly
            cfg[name] = type(v)(min(max(v, hp.lower), hp.upper))
        elif isinstance(hp, (CategoricalHyperparameter, OrdinalHyperparameter, Constant)):
            # keras-tuner hands a boolean choice back as 0/1: give back the space's own value
            values = (
                [hp.value]
                if isinstance(hp, Constant)
                else (hp.choices if isinstance(hp, CategoricalHyperparameter) else hp.sequence)
            )
            cfg[name] = next(
                (native(c) for c in values if native(c) == v and type(native(c)) is type(v)),
                next((native(c) for c in values if native(c) == v), v),
            )
    return validate_config(space, cfg)


class _KerasTuner(Optimizer):
    _option_defaults: ClassVar[dict[str, Any]] = {}
    #: the benchmark budget of one keras-tuner epoch (Hyperband counts in the ladder's smallest rung)
    unit: int = 1

    def __init__(self, space: ConfigurationSpace, budgets: Sequence[int], seed: int, **options: Any):
        opts = self.resolve_options(options, self._option_defaults)
        super().__init__(space, budgets, seed, **options)
        self._opts = opts
        # keras-tuner reads seed 0 as "no seed" (``seed or random.randint``), and seeds the
        # sampler of each value with seed, seed+1, ...: consecutive run seeds would draw
        # shifted copies of one stream. Space them far apart.
        self.kt_seed = 1 + (self.seed * 1_000_003) % (2**31 - 1)
        self._workdir = tempfile.TemporaryDirectory(prefix=f"mfbench-{self.name}-")
        self.oracle = self._make_oracle(to_keras_tuner(space))
        self.oracle._set_project_dir(self._workdir.name, "oracle")  # what BaseTuner does
        self.oracle.verbose = 0

    def _make_oracle(self, hps: kt.HyperParameters) -> Any:
        raise NotImplementedError

    def _tuner_id(self) -> str:
        """One id per outstanding trial: ``create_trial`` hands an id's running trial back."""
        i = 0
        while f"worker{i}" in self.oracle.ongoing_trials:
            i += 1
        return f"worker{i}"

    def _create(self) -> tuple[Any, str]:
        tuner_id = self._tuner_id()
        with _quiet():
            trial = self.oracle.create_trial(tuner_id)
        if trial.status != "RUNNING":
            raise SearchExhausted(
                f"{self.name}: keras-tuner's oracle answered {trial.status!r} instead of a trial "
                f"(it gives up after {self.oracle._max_collisions} draws that repeat a configuration "
                f"already tried: the search space is exhausted)"
            )
        return trial, tuner_id

    def tell(self, trial: Trial, result: Result) -> None:
        # the failure policy: keras-tuner's crash path (status FAILED) ends the whole search after
        # max_consecutive_failed_trials in a row and leaves Hyperband a trial without a score to
        # rank, so a crash counts as the worst error seen in the run
        loss = self.observe(result).loss
        kt_trial = trial.info["kt_trial"]
        with _quiet():
            self.oracle.update_trial(kt_trial.trial_id, {OBJECTIVE: loss}, step=int(trial.budget) // self.unit)
            kt_trial.status = "COMPLETED"
            self.oracle.end_trial(kt_trial)

    def settings(self) -> dict[str, Any]:
        return {
            **self.library_header("keras-tuner"),
            "keras_backend": os.environ.get("KERAS_BACKEND"),
            "oracle": type(self.oracle).__name__,
            "oracle_seed": self.kt_seed,
            "objective": f"{OBJECTIVE} (min)",
            "driver": "oracle.create_trial/update_trial/end_trial",
            **self._opts,
        }


class KerasTunerBO(_KerasTuner):
    """Keras Tuner's GP-UCB Bayesian optimization, at the full budget."""

    name = "kt-bo"
    capabilities: ClassVar[Capabilities] = Capabilities(multi_fidelity=False, continuation=False)
    _option_defaults = {"num_initial_points": None, "alpha": 1e-4, "beta": 2.6}

    def _make_oracle(self, hps: kt.HyperParameters) -> Any:
        return kt.oracles.BayesianOptimizationOracle(
            objective=kt.Objective(OBJECTIVE, direction="min"),
            max_trials=None,
            hyperparameters=hps,
            allow_new_entries=False,
            tune_new_entries=False,
            seed=self.kt_seed,
            num_initial_points=self._opts["num_initial_points"],
            alpha=self._opts["alpha"],
            beta=self._opts["beta"],
            max_consecutive_failed_trials=3,
        )

    def ask(self) -> Trial:
        kt_trial, tuner_id = self._create()
        config = from_keras_tuner(self.space, kt_trial.hyperparameters.values)
        return Trial(
            config=config, budget=self.max_budget, mode="scratch", info={"kt_trial": kt_trial, "tuner_id": tuner_id}
        )

    def settings(self) -> dict[str, Any]:
        o = self.oracle
        n_init = o.num_initial_points or max(3 * len(o.hyperparameters.space), 3)
        return {
            **super().settings(),
            "num_initial_points": n_init,
            "max_trials": None,
            "kernel": "Matern(nu=2.5)",
            "gp_n_restarts_optimizer": 20,
            "acquisition": "UCB (L-BFGS-B, 50 starts)",
            "budget": self.max_budget,
            "mode": "scratch",
        }


class KerasTunerHyperband(_KerasTuner):
    """Keras Tuner's Hyperband: random configurations, promoted trials continue training."""

    name = "kt-hyperband"
    capabilities: ClassVar[Capabilities] = Capabilities(multi_fidelity=True, continuation=True)
    #: continuation: the runner says whether the objective can resume a training; without it
    #: every trial is a training from scratch to ``tuner/epochs`` (the honest cost)
    _option_defaults = {"continuation": True}

    def __init__(self, space: ConfigurationSpace, budgets: Sequence[int], seed: int, **options: Any):
        self.eta = ladder_eta([int(b) for b in budgets])
        #: the benchmark budget of one keras-tuner epoch: the ladder's smallest rung
        self.unit = int(budgets[0])
        super().__init__(space, budgets, seed, **options)
        o = self.oracle
        rungs = sorted({o._get_epochs(b, r) * self.unit for b in range(o._get_num_brackets()) for r in range(b + 1)})
        if rungs != self.budgets:
            raise UsageError(
                f"{self.name}: keras-tuner's Hyperband (min_epochs=1, max_epochs={o.max_epochs}, "
                f"factor={o.factor}) in units of {self.unit} yields {rungs}, not the ladder "
                f"{self.budgets}"
            )

    def _make_oracle(self, hps: kt.HyperParameters) -> Any:
        return kt.oracles.HyperbandOracle(
            objective=kt.Objective(OBJECTIVE, direction="min"),
            max_epochs=self.max_budget // self.unit,
            factor=self.eta,
            hyperband_iterations=None,
            hyperparameters=hps,
            allow_new_entries=False,
            tune_new_entries=False,
            seed=self.kt_seed,
        )

    def ask(self) -> Trial:
        kt_trial, tuner_id = self._create()
        values = kt_trial.hyperparameters.values
        budget = self.check_budget(int(values["tuner/epochs"]) * self.unit)
        resume_from = int(values["tuner/initial_epoch"]) * self.unit
        if resume_from and resume_from not in self.budgets:
            raise AssertionError(f"{self.name}: resumes from epoch {resume_from}, not a rung of {self.budgets}")
        if not self._opts["continuation"]:
            mode, resume_from = "scratch", None
        else:
            mode = "continue"
        return Trial(
            config=from_keras_tuner(self.space, values),
            budget=budget,
            mode=mode,
            resume_from=resume_from,
            info={
                "kt_trial": kt_trial,
                "tuner_id": tuner_id,
                "bracket": values["tuner/bracket"],
                "round": values["tuner/round"],
                "from_trial": values.get("tuner/trial_id"),
            },
        )

    def settings(self) -> dict[str, Any]:
        o = self.oracle
        return {
            **super().settings(),
            "max_epochs": o.max_epochs,
            "min_epochs": o.min_epochs,
            "factor": o.factor,
            "epoch_unit": self.unit,
            "hyperband_iterations": "unbounded",
            "rungs": self.budgets,
            "mode": (
                "continue (resume_from = tuner/initial_epoch)"
                if self._opts["continuation"]
                else "scratch at each rung (the objective cannot continue)"
            ),
        }


__all__ = ["KerasTunerBO", "KerasTunerHyperband", "from_keras_tuner", "to_keras_tuner"]
