"""Grid search and hyperopt's TPE: valid configs, seeded order, determinism across processes,
fmin equivalence, and TPE beating random search on a smooth bowl."""

from __future__ import annotations

import numpy as np
import pytest
from ConfigSpace import Categorical, ConfigurationSpace, EqualsCondition, Float, Integer
from support import asks, asks_in_subprocess, best_true_value, bowl_space, drive, mean_regret, tiny_tabular

from mfbench.objectives.synthetic import SyntheticObjective
from mfbench.optimizers import make_optimizer
from mfbench.optimizers.native.grid import FeistelPermutation
from mfbench.training.space import config_id, get_space, iter_grid, validate_config

LADDER = [1, 3, 9, 27]


# ------------------------------------------------------------------------------- grid


@pytest.mark.parametrize("n", [1, 2, 3, 1000, 4097])
def test_feistel_is_a_permutation(n):
    perm = FeistelPermutation(n, np.random.default_rng(n))
    assert sorted(perm[i] for i in range(n)) == list(range(n))


def test_grid_proposes_every_point_of_the_discrete_space_once_per_pass():
    cs = get_space("cnn-grid")
    ref = {config_id(c) for c in iter_grid(cs)}
    opt = make_optimizer("grid", cs, LADDER, 3)
    trials = [opt.ask() for _ in range(len(ref))]
    assert {config_id(t.config) for t in trials} == ref and len(trials) == 144
    assert all(t.budget == 27 and t.mode == "scratch" for t in trials)
    assert opt.settings()["discretized"] == [] and opt.settings()["passes"] == 1
    second = [opt.ask() for _ in range(len(ref))]  # exhausted: a new pass in a new order
    assert opt.settings()["passes"] == 2
    assert {config_id(t.config) for t in second} == ref
    assert [t.config for t in second] != [t.config for t in trials]


def test_grid_order_depends_on_the_seed_only():
    cs = get_space("cnn-grid")
    a = [make_optimizer("grid", cs, LADDER, 0).ask().config for _ in range(1)]
    first = lambda seed: [
        t.config for t in (lambda o: [o.ask() for _ in range(20)])(make_optimizer("grid", cs, LADDER, seed))
    ]  # noqa: E731
    assert first(0) == first(0) and first(0) != first(1) and a[0] == first(0)[0]


def test_grid_can_refuse_to_repeat():
    cs = ConfigurationSpace(name="tiny")
    cs.add([Categorical("a", ["x", "y", "z"])])
    opt = make_optimizer("grid", cs, LADDER, 0, on_exhausted="error")
    assert sorted(opt.ask().config["a"] for _ in range(3)) == ["x", "y", "z"]
    with pytest.raises(RuntimeError, match="all points"):
        opt.ask()


def test_grid_discretizes_a_continuous_conditional_space():
    cs = get_space("cnn")
    obj = SyntheticObjective(cs, LADDER)
    opt = make_optimizer("grid", cs, LADDER, 0)
    hist = drive(opt, obj, 150)  # asserts valid configs, natives, ladder budgets
    ids = [config_id(t.config) for t, _ in hist]
    assert len(set(ids)) == len(ids)
    s = opt.settings()
    assert set(s["discretized"]) == {
        "batch_size",
        "dropout",
        "label_smoothing",
        "learning_rate",
        "weight_decay",
        "width",
        "momentum",
        "resnet_blocks",
        "vgg_convs",
        "inception_modules",
    }
    assert s["permutation"] == "feistel"
    lr = s["axes"]["learning_rate"]  # log-aware bin centres of [1e-4, 1]
    assert len(lr) == 3 and lr[1] == pytest.approx(1e-2) and lr[0] == pytest.approx(10 ** (-4 + 4 / 6), rel=1e-5)
    for t, _ in hist:  # every value is on its axis; momentum only where it is active
        for k, v in t.config.items():
            assert v in s["axes"][k], (k, v)
        assert ("momentum" in t.config) == (t.config["optimizer"] in ("sgd", "rmsprop"))


def test_grid_search_finds_the_grid_optimum_after_one_pass():
    cs = ConfigurationSpace(name="small")
    cs.add([Float("x", (0.0, 1.0)), Integer("n", (1, 4)), Categorical("c", ["a", "b"])])
    cs.add([Float("w", (0.0, 1.0))])
    cs.add(EqualsCondition(cs["w"], cs["c"], "b"))
    obj = SyntheticObjective(cs, LADDER)
    opt = make_optimizer("grid", cs, LADDER, 5)
    n_points = 3 * 3 * (1 + 3)  # x: 3, n: 3 bin centres of 1..4, c=a (w inactive) or c=b with 3 w
    hist = drive(opt, obj, n_points)
    assert len({config_id(t.config) for t, _ in hist}) == n_points
    assert opt.settings()["passes"] == 1
    best = min(obj.true_value(t.config)[0] for t, _ in hist)
    assert best_true_value(obj, hist) == pytest.approx(best)


def test_grid_deterministic_across_processes():
    (a,), (b,) = asks_in_subprocess([{"name": "grid", "space": "cnn", "n": 30, "seed": 4}])
    assert a == b == asks("grid", "cnn", 30, 4)
    assert a != asks("grid", "cnn", 30, 5)


# --------------------------------------------------------------------------- hyperopt


@pytest.mark.parametrize("space", ["cnn", "cnn-grid"])
def test_hyperopt_tpe_valid_configs(space):
    cs = get_space(space)
    obj = SyntheticObjective(cs, LADDER, noise=0.02)
    opt = make_optimizer("hyperopt-tpe", cs, LADDER, 0, n_startup_jobs=10)
    hist = drive(opt, obj, 30)  # past the startup jobs: TPE proposals are checked too
    assert all(t.budget == 27 and t.mode == "scratch" for t, _ in hist)
    archs = {t.config["architecture"] for t, _ in hist}
    assert len(archs) > 1  # the conditional branches are all reachable
    s = opt.settings()
    assert s["library_version"] == "0.3.0" and s["n_startup_jobs"] == 10
    if space == "cnn":
        assert "momentum|optimizer=sgd" in s["labels"] and "momentum|optimizer=rmsprop" in s["labels"]


def test_hyperopt_space_keeps_ints_and_ordinals_in_range():
    cs = ConfigurationSpace(name="ints")
    from ConfigSpace import OrdinalHyperparameter

    cs.add(
        [
            Integer("a", (1, 3)),
            Integer("b", (4, 32), log=True),
            OrdinalHyperparameter("o", [10, 20, 40]),
            Float("f", (1e-4, 1.0), log=True),
        ]
    )
    opt = make_optimizer("hyperopt-tpe", cs, LADDER, 0, n_startup_jobs=10)
    seen = {"a": set(), "o": set()}
    for _ in range(60):
        t = opt.ask()
        validate_config(cs, t.config)
        seen["a"].add(t.config["a"])
        seen["o"].add(t.config["o"])
        opt.tell(t, SyntheticObjective(cs, LADDER).evaluate(t.config, 27, 0))
    assert seen == {"a": {1, 2, 3}, "o": {10, 20, 40}}


def test_hyperopt_adapter_reproduces_fmin():
    """The ask/tell loop proposes exactly what hyperopt's own fmin proposes for the same seed."""
    from hyperopt import Trials, fmin, tpe

    cs = bowl_space()
    obj = SyntheticObjective(cs, LADDER, noise=0.01)
    n = 28
    opt = make_optimizer("hyperopt-tpe", cs, LADDER, 11)
    ours = [t.config for t, _ in drive(opt, obj, n, seed=0)]
    theirs = []

    def fn(sample):
        cfg = opt.hspace.decode(sample)
        theirs.append(cfg)
        return obj.evaluate(cfg, 27, 0 * 100_003 + len(theirs) - 1).val_error

    fmin(
        fn,
        opt.hspace.expr,
        algo=tpe.suggest,
        max_evals=n,
        trials=Trials(),
        rstate=np.random.default_rng(11),
        show_progressbar=False,
    )
    assert ours == theirs


def test_hyperopt_tpe_parallel_asks_and_out_of_order_tells():
    cs = get_space("cnn")
    obj = SyntheticObjective(cs, LADDER)
    opt = make_optimizer("hyperopt-tpe", cs, LADDER, 0, n_startup_jobs=5)
    for _ in range(4):
        pending = [opt.ask() for _ in range(3)]
        for t in reversed(pending):
            validate_config(cs, t.config)
            opt.tell(t, obj.evaluate(t.config, t.budget, 0))
    assert sum(1 for d in opt._trials.trials if d["result"].get("status") == "ok") == 12


def test_hyperopt_tpe_deterministic_across_processes():
    (a,), (b,) = asks_in_subprocess([{"name": "hyperopt-tpe", "space": "cnn", "n": 25, "seed": 2}])
    assert a == b
    assert a != asks("hyperopt-tpe", "cnn", 25, 3)


def test_hyperopt_tpe_beats_random_on_a_bowl():
    obj = SyntheticObjective(bowl_space(), LADDER)
    tpe_regret = mean_regret("hyperopt-tpe", obj, range(5), n_evals=60, n_startup_jobs=10)
    rnd_regret = mean_regret("random", obj, range(5), n_evals=60)
    assert tpe_regret < 0.6 * rnd_regret, (tpe_regret, rnd_regret)


# ------------------------------------------------------------------- tiny tabular table


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory):
    return tiny_tabular(tmp_path_factory.mktemp("table"))


@pytest.mark.parametrize("name", ["grid", "hyperopt-tpe"])
def test_on_a_tiny_table(tiny_table, name):
    obj = tiny_table
    opt = make_optimizer(name, obj.space, obj.budgets, 0)
    hist = drive(opt, obj, 40)
    assert {t.budget for t, _ in hist} == {obj.max_budget}
