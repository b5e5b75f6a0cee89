"""Small pieces that several library adapters share."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from ConfigSpace import ConfigurationSpace

from mfbench.training.space import space_from_json, space_to_json


def seeded_copy(space: ConfigurationSpace, seed: int) -> ConfigurationSpace:
    """A private copy of ``space`` with its sampler seeded by ``seed``: a library that draws
    from the space's RNG then owns that stream, whatever else samples the benchmark's space."""
    copy = space_from_json(space_to_json(space))
    copy.seed(int(seed))
    return copy


@contextmanager
def ignoring_warnings(*categories: type[Warning]) -> Iterator[None]:
    """Silence whole warning categories around a library call: libraries that warn on every
    call (deprecations inside their own code) would bury every other message."""
    with warnings.catch_warnings():
        for category in categories:
            warnings.filterwarnings("ignore", category=category)
        yield


@contextmanager
def hpbandster_rng(owner: Any) -> Iterator[None]:
    """Run hpbandster's code (its config generators and BOHB's KDE, in the ``bohb`` adapter and
    inside Ray's ``TuneBOHB``) on ``owner._np_state``: those libraries draw from numpy's global
    generator, so each optimizer keeps that state as its own and the caller's is restored."""
    outer = np.random.get_state()
    np.random.set_state(owner._np_state)
    try:
        with warnings.catch_warnings():
            # statsmodels 0.15 warns that its default generator will change; with the
            # 'normal_reference' bandwidth that BOHB uses it draws nothing from it.
            warnings.filterwarnings("ignore", message="After 0.17 or January 2028", category=FutureWarning)
            # hpbandster 0.7.4 calls ConfigSpace methods that 1.x deprecates (they still work)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            # a KDE over a categorical column with a single level in the data divides by
            # zero; hpbandster handles the non-finite value itself (see its get_config)
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="statsmodels")
            yield
    finally:
        owner._np_state = np.random.get_state()
        np.random.set_state(outer)


def from_ordinal_indices(space: ConfigurationSpace, config: dict[str, Any], ordinals: dict[str, Any]) -> dict[str, Any]:
    """A config from a library that saw each ordinal hyperparameter as the integer index of its
    value (hpbandster's BOHB KDE, and Ray's ``TuneBOHB`` over it, refuse ordinals): indices
    mapped back to ``ordinals[name]``'s values, then validated against ``space``."""
    from mfbench.training.space import to_config, validate_config

    cfg = to_config(config)
    for name, seq in ordinals.items():
        if name in cfg:
            cfg[name] = seq[int(cfg[name])]
    return validate_config(space, cfg)
