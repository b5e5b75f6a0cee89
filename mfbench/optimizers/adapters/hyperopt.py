"""hyperopt's original TPE (``hyperopt-tpe``), every trial at the largest rung from scratch.

hyperopt has no ask/tell, so this adapter does what ``fmin`` does inside one iteration:
``tpe.suggest(new_ids, domain, trials, seed)`` with the seed drawn from
``np.random.default_rng(run seed)`` exactly as ``fmin`` draws it, the new trial document is
inserted into a ``Trials`` object and marked running, and ``tell`` marks it done with its
loss. Several asks may be pending: TPE ignores running trials (hyperopt has no constant liar),
so parallel asks are supported but uninformed by each other.

The ConfigSpace space becomes a hyperopt expression tree. hyperopt expresses conditions only
as nested ``hp.choice``: a categorical that has children becomes a choice among branches
holding its value and the children active under it; a child active under several parent
values (``momentum`` under ``sgd`` and ``rmsprop``) appears in each branch under its own label
``name|parent=value`` (hyperopt requires unique labels), so TPE models it per branch. Only
tree-shaped conditions (one ``==``/``in`` condition on a categorical, ordinal or constant
parent) are supported; anything else is refused. Constants are literals (no label).
Integers and ordinals (ordinals as the index of their sequence, keeping their order) are
``quniform``/``qloguniform`` with ``q=1`` over ``[lo - 0.5, hi + 0.5]`` (every value gets an
equal-width bin, unlike ``hp.uniformint``), then rounded and clipped; floats are
``uniform``/``loguniform``, clipped to the bounds (``exp(log(x))`` can overshoot by an ulp).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
from ConfigSpace import ConfigurationSpace, Constant
from ConfigSpace.conditions import EqualsCondition, InCondition
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    FloatHyperparameter,
    IntegerHyperparameter,
    OrdinalHyperparameter,
)
from hyperopt import STATUS_FAIL, STATUS_OK, Domain, Trials, hp, space_eval, tpe
from hyperopt.base import JOB_STATE_DONE, JOB_STATE_RUNNING, spec_from_misc
from hyperopt.utils import coarse_utcnow

from mfbench.core.errors import UsageError
from mfbench.core.types import Capabilities, Result, Trial
from mfbench.optimizers.base import Optimizer
from mfbench.training.space import native, to_config

_VALUE = "__value__"  # key of a branch dict that holds its parent's value


def _finite_values(hp_: Any) -> list[Any] | None:
    if isinstance(hp_, Constant):
        return [hp_.value]
    if isinstance(hp_, CategoricalHyperparameter):
        return list(hp_.choices)
    if isinstance(hp_, OrdinalHyperparameter):
        return list(hp_.sequence)
    return None


class HyperoptSpace:
    """A ConfigSpace space as a hyperopt expression, and the way back to a configuration."""

    def __init__(self, cs: ConfigurationSpace):
        self.cs = cs
        self.parent: dict[str, tuple[str, list[Any]]] = {}  # child -> (parent, parent values that activate it)
        for name in cs.keys():
            conds = cs.parent_conditions_of.get(name, [])
            if not conds:
                continue
            if len(conds) != 1 or not isinstance(conds[0], (EqualsCondition, InCondition)):
                raise UsageError(f"hyperopt-tpe: {name!r} has a condition that is not one '==' or 'in' on one parent")
            cond = conds[0]
            if _finite_values(cond.parent) is None:
                raise UsageError(f"hyperopt-tpe: {name!r} depends on the numerical {cond.parent.name!r}")
            vals = [cond.value] if isinstance(cond, EqualsCondition) else list(cond.values)
            self.parent[name] = (cond.parent.name, vals)
        self.children: dict[str, list[str]] = {n: [] for n in cs.keys()}
        for child, (par, _) in self.parent.items():
            self.children[par].append(child)
        # how many branch positions each hyperparameter takes (labels must be unique in hyperopt)
        self._positions: dict[str, int] = {n: 0 for n in cs.keys()}
        self._count_positions([n for n in cs.keys() if n not in self.parent])
        self.labels: list[str] = []
        self.expr = {n: self._expr(n, ()) for n in cs.keys() if n not in self.parent}

    def _count_positions(self, names: list[str]) -> None:
        for name in names:
            self._positions[name] += 1
            for v in _finite_values(self.cs[name]) or []:
                self._count_positions([c for c in self.children[name] if v in self.parent[c][1]])

    def _label(self, name: str, path: tuple[str, ...]) -> str:
        label = name if self._positions[name] == 1 else "|".join((name, *path))
        self.labels.append(label)
        return label

    def _expr(self, name: str, path: tuple[str, ...]) -> Any:
        h = self.cs[name]
        kids = self.children[name]
        if kids:
            branches = []
            for v in _finite_values(h):
                branch = {_VALUE: native(v)}
                for c in kids:
                    if v in self.parent[c][1]:
                        branch[c] = self._expr(c, (*path, f"{name}={native(v)}"))
                branches.append(branch)
            return branches[0] if len(branches) == 1 else hp.choice(self._label(name, path), branches)
        if isinstance(h, Constant):
            return native(h.value)
        if isinstance(h, CategoricalHyperparameter):
            return hp.choice(self._label(name, path), [native(c) for c in h.choices])
        if isinstance(h, OrdinalHyperparameter):
            return hp.quniform(self._label(name, path), -0.5, len(h.sequence) - 0.5, 1)
        if isinstance(h, IntegerHyperparameter):
            lo, hi = int(h.lower), int(h.upper)
            if h.log:
                return hp.qloguniform(self._label(name, path), math.log(lo - 0.5 + 1e-9), math.log(hi + 0.5), 1)
            return hp.quniform(self._label(name, path), lo - 0.5, hi + 0.5, 1)
        if isinstance(h, FloatHyperparameter):
            lo, hi = float(h.lower), float(h.upper)
            if h.log:
                return hp.loguniform(self._label(name, path), math.log(lo), math.log(hi))
            return hp.uniform(self._label(name, path), lo, hi)
        raise UsageError(f"hyperopt-tpe: unsupported hyperparameter {name!r} ({type(h).__name__})")

    def decode(self, sample: dict[str, Any]) -> dict[str, Any]:
        """A ``space_eval`` result (nested branches) as a flat configuration of natives."""
        flat: dict[str, Any] = {}

        def walk(d: dict[str, Any]) -> None:
            for name, v in d.items():
                if isinstance(v, dict):
                    flat[name] = v[_VALUE]
                    walk({k: x for k, x in v.items() if k != _VALUE})
                else:
                    flat[name] = self._value(name, v)

        walk(sample)
        return to_config(flat)

    def _value(self, name: str, v: Any) -> Any:
        h = self.cs[name]
        if isinstance(h, OrdinalHyperparameter):
            return h.sequence[int(np.clip(round(float(v)), 0, len(h.sequence) - 1))]
        if isinstance(h, IntegerHyperparameter):
            return int(np.clip(round(float(v)), int(h.lower), int(h.upper)))
        if isinstance(h, FloatHyperparameter):
            return float(np.clip(float(v), float(h.lower), float(h.upper)))
        return native(v)


def _never_called(config: Any) -> float:
    raise RuntimeError("mfbench drives hyperopt through tpe.suggest: the objective is never run")


class HyperoptTPE(Optimizer):
    name = "hyperopt-tpe"
    capabilities = Capabilities(multi_fidelity=False, continuation=False)
    on_crash = "hyperopt's STATUS_FAIL"

    def __init__(
        self,
        space: ConfigurationSpace,
        budgets: Sequence[int],
        seed: int,
        n_startup_jobs: int = 20,
        n_EI_candidates: int = 24,
        gamma: float = 0.25,
        prior_weight: float = 1.0,
        **options: Any,
    ):
        super().__init__(space, budgets, seed, **options)
        if options:
            raise UsageError(f"{self.name}: unknown options {sorted(options)}")
        if space.forbidden_clauses:
            raise UsageError(f"{self.name}: hyperopt cannot express the forbidden clauses of space {space.name!r}")
        self.hspace = HyperoptSpace(space)
        self.tpe_options = {
            "n_startup_jobs": int(n_startup_jobs),
            "n_EI_candidates": int(n_EI_candidates),
            "gamma": float(gamma),
            "prior_weight": float(prior_weight),
        }
        self._algo = partial(tpe.suggest, verbose=False, **self.tpe_options)
        self._domain = Domain(_never_called, self.hspace.expr)
        self._trials = Trials()
        self._rstate = np.random.default_rng(self.seed)  # fmin's rstate: one draw per suggest

    def ask(self) -> Trial:
        (tid,) = self._trials.new_trial_ids(1)
        self._trials.refresh()
        docs = self._algo([tid], self._domain, self._trials, int(self._rstate.integers(2**31 - 1)))
        self._trials.insert_trial_docs(docs)
        self._trials.refresh()
        doc = next(d for d in reversed(self._trials._dynamic_trials) if d["tid"] == tid)
        doc["state"] = JOB_STATE_RUNNING
        doc["book_time"] = doc["refresh_time"] = coarse_utcnow()
        config = self.hspace.decode(space_eval(self.hspace.expr, spec_from_misc(doc["misc"])))
        return Trial(config=config, budget=self.max_budget, mode="scratch", info=doc)

    def tell(self, trial: Trial, result: Result) -> None:
        doc = trial.info
        obs = self.observe(result)  # the failure policy: a crash is hyperopt's own STATUS_FAIL
        if obs.crashed:
            doc["result"] = {"status": STATUS_FAIL}
        else:
            doc["result"] = {"status": STATUS_OK, "loss": obs.loss}
        doc["state"] = JOB_STATE_DONE
        doc["refresh_time"] = coarse_utcnow()
        self._trials.refresh()

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            **self.library_header("hyperopt"),
            "algo": "tpe.suggest",
            **self.tpe_options,
            "linear_forgetting": tpe._default_linear_forgetting,
            "rstate": "numpy default_rng(seed), one integers(2**31-1) draw per suggest (as fmin)",
            "labels": list(self.hspace.labels),
            "encoding": "conditions as nested hp.choice; ints/ordinals q=1 equal-width bins; floats clipped",
            "budget": "max rung, from scratch",
        }
