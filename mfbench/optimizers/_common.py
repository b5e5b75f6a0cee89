"""Small pieces that several library adapters share."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from ConfigSpace import ConfigurationSpace

from mfbench.space import space_from_json, space_to_json


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
