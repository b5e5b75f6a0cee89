"""hpbandster's Hyperband and BOHB, driven in-process: valid configs, the exact ladder,
parallel asks, determinism across processes, and that they beat random search on a bowl."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from support import asks_in_subprocess, bowl_space, drive, drive_parallel, mean_regret, tiny_tabular

from mfbench.core.errors import UsageError
from mfbench.objectives.synthetic import SyntheticObjective
from mfbench.optimizers.adapters.hpbandster import hpbandster_rungs, ordinals_as_indices
from mfbench.optimizers.registry import make_optimizer
from mfbench.training.space import get_space, iter_grid, to_config, validate_config

LADDER = [1, 3, 9, 27]
NAMES = ["hyperband", "bohb"]


@pytest.mark.parametrize("space_name", ["cnn", "cnn-grid"])
@pytest.mark.parametrize("name", NAMES)
def test_valid_configs_exact_ladder_scratch(name, space_name, caplog):
    cs = get_space(space_name)
    obj = SyntheticObjective(cs, LADDER, noise=0.01)
    opt = make_optimizer(name, cs, LADDER, seed=3)
    assert opt.capabilities.multi_fidelity and not opt.capabilities.continuation
    with caplog.at_level(logging.WARNING, logger="hpbandster"):
        history = drive(opt, obj, 85)  # asserts valid configs of the space, natives, on-ladder budgets
    assert {t.budget for t, _ in history} == set(LADDER)
    assert {t.mode for t, _ in history} == {"scratch"}
    # the first bracket is the library's: 27 configs at 1 epoch, then 9 at 3, 3 at 9, 1 at 27
    assert [t.budget for t, _ in history[:40]] == [1] * 27 + [3] * 9 + [9] * 3 + [27]
    # hpbandster falls back to random sampling with only a log line when its KDE fails
    assert not [r for r in caplog.records if "failed" in r.getMessage()]
    if name == "bohb":
        picks = [t.info["model_based_pick"] for t, _ in history]
        # a KDE needs more than 2 x (dimensions + 1) results at one budget: none in the first
        # Hyperband iteration (65 evaluations), then most new configurations come from it
        assert not any(picks[:65])
        assert sum(picks) > 0, "BOHB never proposed from its KDE"


def test_rungs_are_the_ladder_and_bad_ladders_are_refused():
    n, rungs = hpbandster_rungs(1, 27, 3)
    assert n == 4 and [round(float(r), 9) for r in rungs] == LADDER
    cs = get_space("cnn")
    opt = make_optimizer("hyperband", cs, [1, 3, 9], seed=0)
    assert opt.settings()["rungs"] == [1, 3, 9]
    assert {t.budget for t, _ in drive(opt, SyntheticObjective(cs, [1, 3, 9]), 20)} == {1, 3, 9}
    for bad in ([1, 2, 9], [27]):
        with pytest.raises(UsageError):
            make_optimizer("bohb", cs, bad, seed=0)
    with pytest.raises(UsageError):
        make_optimizer("bohb", cs, LADDER, seed=0, no_such_option=1)


def test_bohb_sees_ordinals_as_indices_and_maps_back():
    cs = get_space("cnn-grid")
    lib, seqs = ordinals_as_indices(cs)
    assert set(seqs) == {"learning_rate", "batch_size", "width"}
    assert not any(hasattr(lib[n], "sequence") for n in lib.keys())
    assert len(lib.conditions) == len(cs.conditions)
    lib.seed(0)
    for conf in lib.sample_configuration(50):
        cfg = to_config(conf)
        for n, seq in seqs.items():
            cfg[n] = seq[cfg[n]]
        validate_config(cs, cfg)
    opt = make_optimizer("bohb", cs, LADDER, seed=0)
    assert opt.settings()["space_conversion"] == {"ordinal_to_integer_index": ["batch_size", "learning_rate", "width"]}
    grid = {json.dumps(c, sort_keys=True) for c in iter_grid(cs)}
    assert all(json.dumps(opt.ask().config, sort_keys=True) in grid for _ in range(30))


@pytest.mark.parametrize("name", NAMES)
def test_parallel_asks_and_tells_in_any_order(name):
    cs = get_space("cnn")
    obj = SyntheticObjective(cs, LADDER)
    opt = make_optimizer(name, cs, LADDER, seed=1)
    told, pending = drive_parallel(opt, obj, 70, workers=8)  # asserts valid configs, natives, ladder
    assert {t.budget for t, _ in told} | {t.budget for t in pending} == set(LADDER)
    ids = [t.info["config_id"] for t in pending]
    assert len(set(ids)) == len(ids)


def test_global_rng_is_private():
    """Other draws from numpy's global RNG, and a second instance, change nothing."""
    cs = bowl_space("uniform")  # three dimensions: the KDE (which draws from the global RNG) starts early
    obj = SyntheticObjective(cs, LADDER, noise=0.01)

    def step(opt, i, disturb=False):
        if disturb:
            np.random.rand(7)
        t = opt.ask()
        opt.tell(t, obj.evaluate(t.config, t.budget, i))
        return t.config, t.budget, t.info["model_based_pick"]

    single = make_optimizer("bohb", cs, LADDER, seed=5)
    alone = [step(single, i) for i in range(30)]
    a, b = make_optimizer("bohb", cs, LADDER, seed=5), make_optimizer("bohb", cs, LADDER, seed=6)
    interleaved = []
    for i in range(30):
        interleaved.append(step(a, i, disturb=True))
        step(b, i)
    assert interleaved == alone
    assert sum(pick for _, _, pick in alone) >= 5  # the KDE path, which draws from the global RNG


def test_deterministic_across_processes():
    runs = [
        (space, name, seed, n)
        for space, seeds, n in (("cnn", (0,), 30), ("cnn-grid", (0,), 30), ("bowl:uniform", (0, 1), 40))
        for name in NAMES
        for seed in seeds
    ]
    jobs = [
        {"name": name, "space": space, "n": n, "seed": seed, "noise": 0.02, "info": ["model_based_pick"]}
        for space, name, seed, n in runs
    ]
    keys = [f"{space.partition(':')[0]}/{name}/{seed}" for space, name, seed, _ in runs]
    outs = [dict(zip(keys, out, strict=True)) for out in asks_in_subprocess(jobs, timeout=600)]
    assert outs[0] == outs[1]
    assert len(outs[0]) == 8
    for name in NAMES:
        assert outs[0][f"bowl/{name}/0"] != outs[0][f"bowl/{name}/1"]
    assert any(row[-1] for row in outs[0]["bowl/bohb/0"])  # the KDE path is covered too


@pytest.mark.parametrize("name,n_full", [("hyperband", 20), ("bohb", 15)])  # BOHB's KDE sampling costs CPU
def test_beats_random_search_on_a_bowl(name, n_full):
    obj = SyntheticObjective(bowl_space("uniform"), LADDER)
    epochs = n_full * 27  # the cost of n_full full-budget trainings
    ours = mean_regret(name, obj, range(3), epochs=epochs)
    rand = mean_regret("random", obj, range(3), epochs=epochs)
    assert ours < 0.8 * rand, (ours, rand)


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory):
    return tiny_tabular(tmp_path_factory.mktemp("table"))


@pytest.mark.parametrize("name", NAMES)
def test_on_a_tiny_table(name, tiny_table):
    """The whole 144-point grid, ladder 1, 3, 9: every config asked is in the table."""
    opt = make_optimizer(name, tiny_table.space, tiny_table.budgets, seed=0)
    history = drive(opt, tiny_table, 40)
    assert {t.budget for t, _ in history} == {1, 3, 9}
