"""DEHB and Keras Tuner (Bayesian optimization, Hyperband): valid configs, the exact ladder,
continuation semantics, parallel asks, determinism across processes, beating random search."""

from __future__ import annotations

import pytest
from ConfigSpace import Categorical, ConfigurationSpace, Float, OrdinalHyperparameter
from support import asks_in_subprocess, bowl_space, drive, drive_parallel, mean_regret, tiny_tabular

from mfbench.core.errors import UsageError
from mfbench.objectives.synthetic import SyntheticObjective
from mfbench.optimizers.registry import make_optimizer
from mfbench.training.space import get_space, validate_config

LADDER = [1, 3, 9, 27]
# keras-tuner's GP-UCB costs seconds of CPU per ask (a GP refit with 20 restarts plus 50
# L-BFGS-B starts of the acquisition): reach it after 4 random points and ask it only a few times
FAST_BO = {"num_initial_points": 4}


def _opts(name: str) -> dict:
    return dict(FAST_BO) if name == "kt-bo" else {}


@pytest.mark.parametrize("space_name", ["cnn", "cnn-grid"])
@pytest.mark.parametrize("name,n", [("dehb", 100), ("kt-hyperband", 60), ("kt-bo", 5)])
def test_valid_configs_and_budgets(name, n, space_name):
    cs = get_space(space_name)
    obj = SyntheticObjective(cs, LADDER, noise=0.01)
    opt = make_optimizer(name, cs, LADDER, seed=2, **_opts(name))
    history = drive(opt, obj, n)  # asserts valid configs of the space, natives, on-ladder budgets
    budgets = {t.budget for t, _ in history}
    if name == "kt-bo":
        assert budgets == {27} and not opt.capabilities.multi_fidelity
        assert {t.mode for t, _ in history} == {"scratch"}
    else:
        assert budgets == set(LADDER) and opt.capabilities.multi_fidelity
    if name == "dehb":
        assert {t.mode for t, _ in history} == {"scratch"}
        # DEHB's first bracket: 27 configs at 1 epoch, 9 at 3, 3 at 9, 1 at 27
        assert [t.budget for t, _ in history[:40]] == [1] * 27 + [3] * 9 + [9] * 3 + [27]


def test_kt_hyperband_continues_promoted_trials():
    """A promoted trial is the same config, resumed from the epochs of the trial it came from."""
    cs = get_space("cnn")
    opt = make_optimizer("kt-hyperband", cs, LADDER, seed=0)
    assert opt.capabilities.continuation
    history = drive(opt, SyntheticObjective(cs, LADDER), 60)
    by_id = {t.info["kt_trial"].trial_id: t for t, _ in history}
    promoted = [t for t, _ in history if t.info["from_trial"] is not None]
    assert promoted
    for t, r in history:
        assert t.mode == "continue"
        if t.info["from_trial"] is None:
            assert t.resume_from == 0 and r.cost_epochs == t.budget
        else:
            parent = by_id[t.info["from_trial"]]
            assert t.config == parent.config and t.resume_from == parent.budget < t.budget
            assert r.cost_epochs == t.budget - parent.budget
    # bracket 3 of keras-tuner's Hyperband: 27 trials of 1 epoch, then 9 promoted to 3
    assert [t.budget for t, _ in history[:36]] == [1] * 27 + [3] * 9


def test_space_conversion_round_trip():
    from mfbench.optimizers.adapters.keras_tuner import from_keras_tuner, to_keras_tuner

    hps = to_keras_tuner(get_space("cnn-grid"))
    by_name = {hp.name: hp for hp in hps.space}
    assert type(by_name["learning_rate"]).__name__ == "Choice" and by_name["learning_rate"].ordered
    assert type(by_name["architecture"]).__name__ == "Choice" and not by_name["architecture"].ordered
    assert type(by_name["momentum"]).__name__ == "Fixed" and by_name["momentum"].conditions
    cnn = get_space("cnn")
    hps = to_keras_tuner(cnn)
    by_name = {hp.name: hp for hp in hps.space}
    assert by_name["width"].sampling == "log" and by_name["learning_rate"].sampling == "log"
    assert by_name["momentum"].conditions and by_name["vgg_convs"].conditions
    cfg = {
        "architecture": "vgg",
        "vgg_convs": 3,
        "width": 32,
        "kernel_size": 5,
        "activation": "gelu",
        "dropout": 0.5,
        "batch_norm": False,
        "optimizer": "adam",
        "learning_rate": 1.0000000000000002,
        "weight_decay": 1e-6,
        "batch_size": 16,
        "lr_schedule": "constant",
        "augmentation": "none",
        "label_smoothing": 0.2,
    }
    back = from_keras_tuner(cnn, {**cfg, "tuner/epochs": 3})
    assert back["learning_rate"] == 1.0 and "tuner/epochs" not in back and "momentum" not in back
    # a condition keras-tuner cannot express is refused with one clear line
    cs = ConfigurationSpace(name="gt")
    cs.add([OrdinalHyperparameter("a", [1, 2, 3]), Float("b", (0.0, 1.0))])
    from ConfigSpace import GreaterThanCondition

    cs.add(GreaterThanCondition(cs["b"], cs["a"], 1))
    with pytest.raises(UsageError):
        make_optimizer("kt-bo", cs, LADDER, seed=0)


def test_kt_hyperband_refuses_a_ladder_it_cannot_make():
    """A ladder r0 * eta**k is keras-tuner's 1..eta**K in units of r0; any other is refused."""
    cs = get_space("cnn")
    s = make_optimizer("kt-hyperband", cs, [3, 9, 27], seed=0).settings()
    assert (s["rungs"], s["epoch_unit"], s["max_epochs"], s["factor"]) == ([3, 9, 27], 3, 9, 3)
    s = make_optimizer("kt-hyperband", cs, [1, 3, 9], seed=0).settings()
    assert (s["rungs"], s["epoch_unit"], s["max_epochs"]) == ([1, 3, 9], 1, 9)
    for name in ("dehb", "kt-hyperband"):
        with pytest.raises(UsageError):
            make_optimizer(name, cs, [1, 2, 9], seed=0)
    d = make_optimizer("dehb", cs, [3, 9, 27], seed=0)  # DEHB computes its rungs from min and max
    assert d.settings()["fidelities"] == [3, 9, 27]


def test_kt_says_clearly_when_a_finite_space_is_exhausted():
    cs = ConfigurationSpace(name="four")
    cs.add([Categorical("a", ["x", "y"]), Categorical("b", ["u", "v"])])
    obj = SyntheticObjective(cs, LADDER)
    opt = make_optimizer("kt-hyperband", cs, LADDER, seed=0)
    with pytest.raises(RuntimeError, match="exhausted"):
        drive(opt, obj, 50)


@pytest.mark.parametrize("name", ["dehb", "kt-hyperband", "kt-bo"])
def test_parallel_asks_and_tells_in_any_order(name):
    cs = bowl_space("uniform") if name == "kt-bo" else get_space("cnn")  # a cheap GP for kt-bo
    obj = SyntheticObjective(cs, LADDER)
    opt = make_optimizer(name, cs, LADDER, seed=1, **_opts(name))
    told, pending = drive_parallel(opt, obj, 6 if name == "kt-bo" else 90, workers=4)  # asserts validity
    budgets = {t.budget for t, _ in told} | {t.budget for t in pending}
    assert budgets == ({27} if name == "kt-bo" else set(LADDER))
    if name == "kt-hyperband":  # a trial is promoted only from a finished one
        for t in pending:
            assert t.info["from_trial"] is None or opt.oracle.trials[t.info["from_trial"]].status == "COMPLETED"


def test_nonfinite_results_do_not_break_the_libraries():
    from mfbench.core.types import Result

    cs = get_space("cnn")
    for name in ("dehb", "kt-hyperband", "kt-bo"):  # kt-bo stays in its 51 random initial points
        opt = make_optimizer(name, cs, LADDER, seed=0)
        for _ in range(8):
            t = opt.ask()
            opt.tell(t, Result(val_error=float("nan"), cost_seconds=1.0, cost_epochs=t.budget, status="diverged"))
        t = opt.ask()  # a legal trial still comes after the NaNs
        assert validate_config(cs, t.config) == t.config and t.budget in LADDER


def test_deterministic_across_processes():
    # kt-bo: its random phase on the CNN spaces, its GP (cheap in 3 dimensions) on the bowl
    runs = [
        (space, name, n, {})
        for name, n in (("dehb", 50), ("kt-hyperband", 40), ("kt-bo", 4))
        for space in ("cnn", "cnn-grid")
    ] + [("bowl:uniform", "kt-bo", 5, FAST_BO)]
    jobs, keys = [], []
    for space, name, n, opts in runs:
        for seed in (0,) if space.startswith("bowl") else (0, 1):  # one GP ask costs seconds
            jobs.append({"name": name, "space": space, "n": n, "seed": seed, "options": opts, "noise": 0.02})
            keys.append(f"{space.partition(':')[0]}/{name}/{seed}")
    outs = [dict(zip(keys, out, strict=True)) for out in asks_in_subprocess(jobs, timeout=900)]
    assert outs[0] == outs[1]
    assert len(outs[0]) == 13
    for key in {k.rsplit("/", 1)[0] for k in outs[0] if not k.startswith("bowl/")}:
        assert outs[0][f"{key}/0"] != outs[0][f"{key}/1"]


@pytest.mark.parametrize("name", ["dehb", "kt-hyperband"])
def test_beats_random_search_on_a_bowl(name):
    obj = SyntheticObjective(bowl_space("uniform"), LADDER)
    epochs = 20 * 27  # the cost of 20 full-budget trainings
    ours = mean_regret(name, obj, range(3), epochs=epochs)
    rand = mean_regret("random", obj, range(3), epochs=epochs)
    assert ours < 0.8 * rand, (ours, rand)


@pytest.mark.slow
def test_kt_bo_beats_random_search_on_a_bowl():
    """Slow: about 40 s of CPU, all in keras-tuner's GP (2 GP asks per seed)."""
    obj = SyntheticObjective(bowl_space("uniform"), LADDER)
    epochs = 6 * 27
    ours = mean_regret("kt-bo", obj, range(3), epochs=epochs, **FAST_BO)
    rand = mean_regret("random", obj, range(3), epochs=epochs)
    assert ours < 0.8 * rand, (ours, rand)


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory):
    return tiny_tabular(tmp_path_factory.mktemp("table"))


@pytest.mark.parametrize("name", ["dehb", "kt-hyperband", "kt-bo"])
def test_on_a_tiny_table(name, tiny_table):
    """The whole 144-point grid, ladder 1, 3, 9: every config asked is in the table."""
    opt = make_optimizer(name, tiny_table.space, tiny_table.budgets, seed=0, **_opts(name))
    history = drive(opt, tiny_table, 5 if name == "kt-bo" else 40)
    assert {t.budget for t, _ in history} == ({9} if name == "kt-bo" else {1, 3, 9})
