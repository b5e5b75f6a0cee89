"""The seed split: would a ranking over benchmarks reproduce with other optimizer seeds?"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mfbench.analysis.reproducibility import _seed_half_pairs, seed_split
from mfbench.analysis.stats import split_half


def test_luck_shared_across_benchmarks_reproduces_on_tasks_but_not_on_seeds():
    """Each seed's luck is the same on every benchmark (as one random stream on alike tasks):
    the task split of one seed says the ranking reproduces; the seed split says it does not."""
    rng = np.random.default_rng(0)
    n, s, m = 20, 6, 10
    luck = rng.normal(size=(s, m))  # one ordering of the methods per seed, shared by every benchmark
    cube = luck[None] + 0.05 * rng.normal(size=(n, s, m))
    one_seed = split_half(pd.DataFrame(cube[:, 0]), n_splits=300, block_word="benchmarks")
    assert one_seed.reproduces and one_seed.mean > 0.95
    r = seed_split(cube, n_splits=500)
    assert r.n_seeds == 6 and r.seed_half == 3 and r.n_seed_splits == 10  # C(6,3) / 2
    assert r.seed_mean < 0.6 and r.cross_mean < 0.6
    assert not r.reproduces and "would not reproduce" in r.reading()


def test_a_real_difference_reproduces_with_other_seeds_and_benchmarks():
    rng = np.random.default_rng(1)
    n, s, m = 12, 4, 8
    cube = np.arange(m, dtype=float)[None, None] + 0.5 * rng.normal(size=(n, s, m))
    r = seed_split(cube, n_splits=500)
    assert r.seed_mean > 0.9 and r.cross_mean > 0.9 and r.cross_full >= r.cross_mean
    assert r.reproduces and "would reproduce" in r.reading()
    assert r.benchmark_half == 6 and r.n_cross_splits == 500
    d = r.to_dict()
    assert d["reproduces"] and d["reading"] == r.reading() and d["seeds_needed_for_target"] is not None
    json.dumps(d)
    # direction: the agreement of two rankings does not depend on which end is best
    assert seed_split(cube, n_splits=500, higher_is_better=True).seed_mean == pytest.approx(r.seed_mean)


def test_what_cannot_be_measured_is_said():
    rng = np.random.default_rng(2)
    one = seed_split(rng.normal(size=(10, 1, 5)))
    assert not one.measurable and not one.reproduces
    assert "not measurable (1 seed common to every benchmark" in one.reading()
    few = seed_split(rng.normal(size=(3, 4, 5)))  # halves of one benchmark: no crossed split
    assert few.measurable and few.n_cross_splits == 0 and "not measurable (fewer than 4 benchmarks)" in few.reading()
    cube = rng.normal(size=(6, 2, 5))
    cube[2, 1, 3] = np.nan  # a benchmark with a missing value is dropped
    assert seed_split(cube).n_benchmarks == 5
    with pytest.raises(ValueError, match="benchmarks, seeds, methods"):
        seed_split(rng.normal(size=(4, 5)))


def test_seed_halves_are_disjoint_and_each_pair_is_counted_once():
    rng = np.random.default_rng(0)
    pairs = _seed_half_pairs(5, 2000, rng)
    assert len(pairs) == 15  # C(5,2) * C(3,2) / 2
    assert len({frozenset((a, b)) for a, b in pairs}) == 15
    assert all(len(a) == len(b) == 2 and not set(a) & set(b) for a, b in pairs)
    many = _seed_half_pairs(20, 100, rng)  # too many to enumerate: random ones
    assert len(many) == 100 and all(len(a) == 10 and not set(a) & set(b) for a, b in many)
