"""optiml's speed-ups change no proposal: its forest is RandomForestRegressor's tree for tree, the
replayed random streams are RandomState's, a batched prediction equals one call per batch, the
normal cdf/pdf are scipy's bits, and the GA codec's vectorized hit draws are the one-by-one draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from support import asks

from mfbench.optimizers.native import forest
from mfbench.optimizers.native.encoding import VectorCodec
from mfbench.optimizers.native.optiml import _norm_cdf, _norm_pdf, _Predictor
from mfbench.training.space import get_space


def _data(n: int, d: int, seed: int, ties: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    if ties:  # one-hot and ordinal columns, inactive = -1, as optiml's features have
        X[:, : d // 2] = np.round(X[:, : d // 2])
        X[rng.random(n) < 0.3, -1] = -1.0
    return X, rng.random(n)


@pytest.mark.parametrize(
    "n, d, max_features, min_samples_leaf",
    [(1, 5, 0.8, 1), (2, 5, 0.8, 1), (17, 19, 0.8, 1), (120, 19, 0.8, 1), (60, 7, 0.5, 3), (40, 3, 1.0, 2)],
)
def test_forest_equals_random_forest_regressor(n, d, max_features, min_samples_leaf):
    streams: dict = {}
    for seed in (0, 2**31 - 2):
        X, y = _data(n, d, seed)
        mine = forest._direct_forest(X, y, 20, max_features, min_samples_leaf, seed, streams)
        ref = forest._sklearn_forest(X, y, 20, max_features, min_samples_leaf, seed)
        assert forest.same_trees(mine, ref)


def test_refits_with_one_stream_cache_equal_fresh_forests():
    """optiml refits with the same seed as rows arrive: the cached streams must replay exactly."""
    fitter = forest.ForestFitter(n_trees=15, max_features=0.8, min_samples_leaf=1, seed=1234)
    X, y = _data(300, 12, 5)
    for n in (3, 10, 11, 50, 49, 300, 7):
        assert forest.same_trees(fitter.fit(X[:n], y[:n]), forest._sklearn_forest(X[:n], y[:n], 15, 0.8, 1, 1234))


def test_constant_target_and_identical_rows():
    X = np.zeros((12, 4))
    y = np.full(12, 0.3)
    assert forest.same_trees(forest._direct_forest(X, y, 5, 0.8, 1, 9), forest._sklearn_forest(X, y, 5, 0.8, 1, 9))


def test_non_finite_inputs_take_scikit_learns_path():
    X, y = _data(10, 4, 0)
    X[3, 1] = np.inf
    with pytest.raises(ValueError):  # scikit-learn's own refusal, not a silent tree
        forest._direct_forest(X, y, 3, 0.8, 1, 0)
    X, y = _data(10, 4, 0)
    y[2] = np.nan
    with pytest.raises(ValueError):
        forest._direct_forest(X, y, 3, 0.8, 1, 0)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 64, 65, 127, 1000, 4097, forest._RAND_R_MAX])
def test_replayed_stream_equals_random_state(n):
    rng = np.random.default_rng(n)
    for seed in rng.integers(0, 2**31 - 1, size=20):
        stream = forest._TreeStream(int(seed))
        for count in (1, 7, 300, 1):  # repeated: the cache replays from the start every time
            expect = np.random.RandomState(int(seed)).randint(0, n, count)
            got = stream.bounded(n, count)
            assert got.dtype == expect.dtype and np.array_equal(got, expect)


def test_direct_builder_is_used_when_faithful_and_checked_once():
    assert forest._direct_is_faithful()  # on the pinned scikit-learn
    assert forest._direct_is_faithful.cache_info().currsize == 1


def test_optiml_proposals_do_not_depend_on_the_forest_path(monkeypatch):
    job = {
        "name": "optiml",
        "space": "cnn",
        "n": 40,
        "seed": 3,
        "options": {"n_trees": 10, "n_candidates": 100, "n_local": 5, "n_local_starts": 3},
        "noise": 0.02,
    }
    fast = asks(**job)
    monkeypatch.setattr(forest, "_direct_is_faithful", lambda: False)
    assert asks(**job) == fast


def test_batched_prediction_equals_one_call_per_batch():
    X, y = _data(80, 9, 1)
    trees = forest._sklearn_forest(X, y, 25, 0.8, 1, 4)
    pred = _Predictor(trees, shift=0.125, budget_feature=1.0)
    rng = np.random.default_rng(2)
    batches = [rng.random((k, 8)) for k in (1, 10, 3, 1, 500, 2)]
    for (mu, sd), b in zip(pred.many(batches), batches, strict=True):
        mu1, sd1 = pred(b)
        assert mu.tobytes() == mu1.tobytes() and sd.tobytes() == sd1.tobytes()


def test_normal_cdf_and_pdf_are_scipys_bits():
    rng = np.random.default_rng(0)
    z = np.concatenate(
        [rng.normal(size=1000) * s for s in (1e-6, 1.0, 8.0, 40.0)] + [np.array([0.0, -0.0, 1e300, -1e300, np.nan])]
    )
    with np.errstate(over="ignore"):
        assert np.array_equal(_norm_cdf(z), norm.cdf(z), equal_nan=True)
        assert np.array_equal(_norm_pdf(z), norm.pdf(z), equal_nan=True)


def test_mutate_draws_as_one_draw_per_hyperparameter():
    """The codec draws the hit decisions as one array; the reference draws them one by one."""
    codec = VectorCodec(get_space("cnn"))
    vecs = codec.sample(30, np.random.default_rng(0))
    for rate in (None, 0.5):
        for k, v in enumerate(vecs):
            a, b = np.random.default_rng(k), np.random.default_rng(k)
            got = codec.mutate(v, a, rate, 0.1, at_least_one=True)
            active = [j for j in codec.variable if not np.isnan(v[j])]
            p = 1.0 / len(active) if rate is None else rate
            hits = [j for j in active if b.random() < p] or [active[int(b.integers(len(active)))]]
            ref = np.array(v, dtype=float)
            for j in hits:
                ref[j] = codec.move(j, ref[j], b, 0.1)
            assert np.array_equal(got, ref, equal_nan=True) and a.random() == b.random()
