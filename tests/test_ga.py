"""ga / ga-mf: valid configs, determinism across processes, no duplicates, the promotion and
selection rules, parallel asks, and beating random search on an easy bowl."""

from __future__ import annotations

import numpy as np
import pytest
from support import asks, asks_in_subprocess, bowl_space, drive, mean_regret

from mfbench.core.types import Result
from mfbench.objectives.synthetic import SyntheticObjective
from mfbench.optimizers.native.encoding import VectorCodec, make_rng
from mfbench.optimizers.native.ga import GeneticAlgorithm, Individual, MultiFidelityGA
from mfbench.optimizers.registry import make_optimizer
from mfbench.training.space import config_id, get_space, validate_config

# ------------------------------------------------------------------------------ validity


@pytest.mark.parametrize("space", ["cnn", "cnn-grid"])
@pytest.mark.parametrize("name", ["ga", "ga-mf"])
def test_only_valid_configs_and_no_duplicates(space, name):
    cs = get_space(space)
    obj = SyntheticObjective(cs, noise=0.02)
    opt = make_optimizer(name, cs, obj.budgets, seed=3, population_size=10, elitism=2)
    hist = drive(opt, obj, 70)  # asserts valid configs, natives, on-ladder budgets
    pairs = [(config_id(t.config), t.budget) for t, _ in hist]
    assert len(pairs) == len(set(pairs)), "a (config, budget) was evaluated twice"
    if name == "ga":
        assert {t.budget for t, _ in hist} == {obj.max_budget}
        assert len({config_id(t.config) for t, _ in hist}) == 70
    else:
        rungs = obj.budgets
        by_cfg: dict[str, list[int]] = {}
        for t, _ in hist:
            by_cfg.setdefault(config_id(t.config), []).append(t.budget)
        for budgets in by_cfg.values():  # each config climbs the ladder rung by rung
            assert budgets == rungs[: len(budgets)]
        assert max(len(b) for b in by_cfg.values()) == len(rungs)
    # conditional spaces: configs of several architectures, each with exactly its own depth knob
    archs = {t.config["architecture"] for t, _ in hist}
    assert len(archs) >= 2
    for t, _ in hist:
        knobs = {"resnet_blocks", "vgg_convs", "inception_modules"} & set(t.config)
        assert knobs == {
            dict(resnet="resnet_blocks", vgg="vgg_convs", inception="inception_modules")[t.config["architecture"]]
        }


def test_grid_space_never_repeats_until_nearly_exhausted():
    cs = get_space("cnn-grid")  # 144 points
    obj = SyntheticObjective(cs)
    hist = drive(GeneticAlgorithm(cs, obj.budgets, seed=0), obj, 130)
    assert len({config_id(t.config) for t, _ in hist}) == 130


# ------------------------------------------------------------------------------ determinism


def test_deterministic_across_processes():
    jobs = [
        {"name": name, "space": space, "n": 30, "seed": 7, "options": {"population_size": 8}, "noise": 0.02}
        for name, space in (("ga", "cnn"), ("ga-mf", "cnn-grid"))
    ]
    a, b = asks_in_subprocess(jobs, hashseeds=(0, 12345))
    assert a == b
    # this process has yet another hash seed; a different run seed gives different trials
    assert asks(**jobs[0]) == a[0]
    assert asks(**{**jobs[0], "seed": 8}) != a[0]


# ------------------------------------------------------------------------------ variation


def test_neighbour_moves_per_type():
    cs = get_space("cnn")
    grid = get_space("cnn-grid")
    codec, gcodec = VectorCodec(cs), VectorCodec(grid)
    rng = make_rng(0, "test")
    j_lr = cs.index_of["learning_rate"]
    j_w = cs.index_of["width"]
    j_arch = cs.index_of["architecture"]
    g_lr = grid.index_of["learning_rate"]
    for _ in range(200):
        v = float(rng.random())
        new = codec.move(j_lr, v, rng, 0.15)
        assert 0.0 <= new <= 1.0
        w = codec.canonical_column(j_w, np.array([v]))[0]
        assert cs["width"].to_value(codec.move(j_w, w, rng, 0.15)) != cs["width"].to_value(w)
        a = float(rng.integers(3))
        assert codec.move(j_arch, a, rng, 0.15) != a
        idx = float(rng.integers(3))
        assert abs(gcodec.move(g_lr, idx, rng, 0.15) - idx) == 1.0  # ordinal: one neighbour step
    # the numeric step is Gaussian on the log-aware scale: log10(lr) moves about 0.15 * 4 decades
    steps = [codec.move(j_lr, 0.5, rng, 0.15) - 0.5 for _ in range(2000)]
    assert 0.12 < np.std(steps) < 0.18


def test_crossover_repair_keeps_exactly_the_active_hyperparameters():
    cs = get_space("cnn")
    ga = GeneticAlgorithm(cs, [1, 3, 9, 27], seed=0, crossover_rate=1.0, mutation_rate=1e-12, tournament_size=1)
    base = {
        "activation": "relu",
        "augmentation": "none",
        "batch_norm": True,
        "batch_size": 64,
        "dropout": 0.1,
        "kernel_size": 3,
        "label_smoothing": 0.0,
        "learning_rate": 0.01,
        "lr_schedule": "cosine",
        "weight_decay": 1e-4,
        "width": 16,
    }
    a = validate_config(cs, {**base, "architecture": "resnet", "resnet_blocks": 3, "optimizer": "adam"})
    b = validate_config(cs, {**base, "architecture": "vgg", "vgg_convs": 1, "optimizer": "sgd", "momentum": 0.5})
    ga.population = [
        Individual(i, c, ga.codec.encode(c), config_id(c), 0, {0: 0.1 * (i + 1)}) for i, c in enumerate([a, b])
    ]
    seen = set()
    for _ in range(100):
        child = ga.codec.decode(ga._variation())
        validate_config(cs, child)
        seen.add((child["architecture"], child["optimizer"]))
        # a hyperparameter that the child's parents define keeps the parent's value
        if child["architecture"] == "resnet":
            assert child["resnet_blocks"] == 3
        else:
            assert child["architecture"] == "vgg" and child["vgg_convs"] == 1
        if child["optimizer"] == "sgd":
            assert child["momentum"] == pytest.approx(0.5)
        else:
            assert "momentum" not in child
    assert len(seen) == 4  # uniform crossover mixes the genes of both parents


def test_newly_active_hyperparameter_comes_from_gene_pool_or_prior():
    cs = get_space("cnn")
    ga = GeneticAlgorithm(cs, [27], seed=0)
    j = cs.index_of["vgg_convs"]
    assert cs["vgg_convs"].to_value(ga._fill(j)) in (1, 2, 3)  # empty population: the prior
    default = {k: v for k, v in cs.get_default_configuration().items() if k != "resnet_blocks"}
    c = validate_config(cs, {**default, "architecture": "vgg", "vgg_convs": 3})
    ga.population = [Individual(0, c, ga.codec.encode(c), config_id(c), 0, {0: 0.5})]
    assert all(cs["vgg_convs"].to_value(ga._fill(j)) == 3 for _ in range(20))


# ------------------------------------------------------------------------------ ga-mf rules


@pytest.mark.parametrize("continuation", [True, False])
def test_ga_mf_promotes_exactly_the_top_third(continuation):
    cs = get_space("cnn")
    budgets = [1, 3, 9]
    obj = SyntheticObjective(cs, budgets, noise=0.2)
    opt = MultiFidelityGA(cs, budgets, seed=1, population_size=10, elitism=1, eta=3, continuation=continuation)
    hist = drive(opt, obj, 2 * (10 + 3 + 1) + 9 + 3)
    sizes = [10, 3, 1, 9, 3, 1, 9, 3]  # gen 0: 10 -> 3 -> 1; gen 1: 9 -> 3 -> 1; gen 2 starts
    pos = 0
    cohorts = []
    for size in sizes:
        cohorts.append(hist[pos : pos + size])
        pos += size
    for k, cohort in enumerate(cohorts):
        budget = budgets[[0, 1, 2, 0, 1, 2, 0, 1][k]]
        assert {t.budget for t, _ in cohort} == {budget}
        if budget != budgets[0]:
            prev = cohorts[k - 1]
            ranked = sorted(prev, key=lambda tr: tr[1].val_error)
            expected = {config_id(t.config) for t, _ in ranked[: len(prev) // 3 or 1]}
            assert {config_id(t.config) for t, _ in cohort} == expected
    for t, r in hist:
        if continuation:
            prev = budgets[budgets.index(t.budget) - 1] if t.budget != budgets[0] else 0
            assert (t.mode, t.resume_from, r.cost_epochs) == ("continue", prev, t.budget - prev)
        else:
            assert (t.mode, t.resume_from, r.cost_epochs) == ("scratch", None, t.budget)
    assert opt.settings()["continuation"] is continuation and opt.settings()["eta"] == 3


def test_fitness_is_rung_first_and_elitism_keeps_the_best_max_budget_individual():
    lo = Individual(0, {}, np.zeros(1), "a", 0, {0: 0.01})  # great error, but only at the lowest rung
    hi = Individual(1, {}, np.zeros(1), "b", 0, {0: 0.5, 1: 0.4, 2: 0.3})
    mid = Individual(2, {}, np.zeros(1), "c", 0, {0: 0.2, 1: 0.1})
    assert sorted([lo, mid, hi], key=Individual.key) == [hi, mid, lo]

    cs = get_space("cnn")
    obj = SyntheticObjective(cs, [1, 3, 9], noise=0.05)
    opt = MultiFidelityGA(cs, obj.budgets, seed=2, population_size=10, elitism=2)
    drive(opt, obj, 14)  # generation 0 complete
    assert len(opt.population) == 10
    assert opt.population[0].top_rung == 2  # the one max-budget individual leads the population
    everyone = list(opt.population)
    for _ in range(3):
        best = opt.population[0]
        hist = drive(opt, obj, 13)  # one more generation each
        everyone += [opt._asked.get(0, (None, None))[1] for _ in ()]  # (no pending asks)
        champion = min((i for i in opt.population + everyone if i.top_rung == 2), key=Individual.key)
        assert champion in opt.population  # elitism: the best max-budget individual ever survives
        assert opt.population[0].key() <= best.key()
        everyone += opt.population
        assert len(hist) == 13
        assert [i.top_rung for i in opt.population] == sorted((i.top_rung for i in opt.population), reverse=True)


# ------------------------------------------------------------------------------ parallel asks


@pytest.mark.parametrize("name", ["ga", "ga-mf"])
def test_parallel_asks_never_block(name):
    cs = get_space("cnn")
    obj = SyntheticObjective(cs, noise=0.02)
    opt = make_optimizer(name, cs, obj.budgets, seed=5, population_size=8)
    pending = [opt.ask() for _ in range(20)]  # more than a generation, nothing told
    ids = [(config_id(t.config), t.budget) for t in pending]
    assert len(set(ids)) == 20
    rng = np.random.default_rng(0)
    for k in rng.permutation(20):  # told out of order
        t = pending[int(k)]
        validate_config(cs, t.config)
        opt.tell(t, obj.evaluate(t.config, t.budget, 0, mode=t.mode, resume_from=t.resume_from))
    hist = drive(opt, obj, 40)
    pairs = ids + [(config_id(t.config), t.budget) for t, _ in hist]
    assert len(pairs) == len(set(pairs))
    assert len(opt.population) == 8
    with pytest.raises(ValueError):
        opt.tell(pending[0], Result(0.5, 1.0, 1))  # told twice


def test_failed_evaluations_rank_last():
    cs = get_space("cnn")
    opt = GeneticAlgorithm(cs, [27], seed=0, population_size=4, elitism=1)
    trials = [opt.ask() for _ in range(4)]
    for k, t in enumerate(trials):
        bad = k == 0
        opt.tell(t, Result(float("nan") if bad else 0.5 - 0.1 * k, 1.0, 27, status="diverged" if bad else "ok"))
    assert opt.population[-1].config == trials[0].config
    assert opt.population[0].config == trials[3].config


# ------------------------------------------------------------------------------ quality


def test_ga_and_ga_mf_beat_random_search_on_an_easy_bowl():
    obj = SyntheticObjective(bowl_space("mixed"), (1, 3, 9, 27), noise=0.01)
    seeds = range(4)
    epochs = 60 * 27  # the budget: 60 full-budget trainings
    res = {"random": mean_regret("random", obj, seeds, epochs=epochs)}
    for name in ("ga", "ga-mf"):
        res[name] = mean_regret(name, obj, seeds, epochs=epochs, population_size=10)
    assert res["ga"] < 0.7 * res["random"], res
    assert res["ga-mf"] < 0.7 * res["random"], res


@pytest.mark.parametrize("space", ["cnn", "cnn-grid"])
def test_batched_keys_are_the_keys_and_repair_matches_the_conditions(space):
    """``keys`` (optiml's duplicate check, one rounding pass per batch) gives each row's ``key``;
    ``repair`` (on Python floats since session 11) leaves active exactly what ConfigSpace's
    vectorized conditions say, and no hyperparameter of a vector that satisfied them changes."""
    cs = get_space(space)
    codec = VectorCodec(cs)
    V = codec.sample(300, make_rng(0, "test"))
    assert codec.keys(V) == [codec.key(v) for v in V] and len(set(codec.keys(V))) > 1
    rs = np.random.RandomState(0)
    rng = make_rng(1, "test")
    for v in V[:100]:
        m = codec.mutate(v, rng, 0.5, 0.3)
        r = codec.repair(m, lambda j: codec.prior_value(j, rs))
        assert r.dtype == np.float64 and r.shape == v.shape
        active = np.ones(codec.dim, dtype=bool)
        for j, conds in codec.conditional:
            active[j] = all(bool(c.satisfied_by_vector_array(r[:, None])[0]) for c in conds)
        assert np.array_equal(~np.isnan(r), active)
        keep = ~np.isnan(m) & active
        assert np.array_equal(r[keep], m[keep])  # repair fills and clears, never moves a value
        assert np.array_equal(codec.repair(r, lambda j: 1 / 0), r, equal_nan=True)  # a repaired vector is a fixed point
