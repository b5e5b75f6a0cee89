"""optiml: valid configs, determinism across processes, no duplicate (config, budget), the
continue-or-stop and cost rules on crafted cases, honest accounting, and beating random search."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from ConfigSpace import Categorical, ConfigurationSpace, Float
from support import asks, asks_in_subprocess, bowl_space, drive, drive_epochs, mean_regret

from mfbench.core.types import Result
from mfbench.objectives.base import Objective
from mfbench.objectives.synthetic import SyntheticObjective
from mfbench.optimizers.native.optiml import OptiML, choose_action, expected_improvement, prob_improvement
from mfbench.training.space import config_id, get_space, validate_config

SMALL = {"n_trees": 10, "n_candidates": 100, "n_local": 5, "n_local_starts": 3}  # keeps the tests fast


@pytest.mark.parametrize("space", ["cnn", "cnn-grid"])
def test_only_valid_configs_and_no_duplicate_evaluations(space):
    cs = get_space(space)
    obj = SyntheticObjective(cs, noise=0.02)
    opt = OptiML(cs, obj.budgets, seed=4, **SMALL)
    hist = drive(opt, obj, 60)  # asserts valid configs, natives, on-ladder budgets
    pairs = [(config_id(t.config), t.budget) for t, _ in hist]
    assert len(pairs) == len(set(pairs)), "a (config, budget) was evaluated twice"
    by_cfg: dict[str, list[int]] = {}
    for t, _ in hist:
        by_cfg.setdefault(config_id(t.config), []).append(t.budget)
    for budgets in by_cfg.values():  # every config starts at the lowest rung and climbs one rung at a time
        assert budgets == obj.budgets[: len(budgets)]
    assert len({t.config["architecture"] for t, _ in hist}) >= 2
    assert opt.n_forced_duplicates == 0


def test_deterministic_across_processes():
    jobs = [
        {"name": "optiml", "space": space, "n": 25, "seed": 11, "options": SMALL, "noise": 0.02}
        for space in ("cnn", "cnn-grid")
    ]
    a, b = asks_in_subprocess(jobs, hashseeds=(0, 12345))
    assert a == b
    assert asks(**jobs[0]) == a[0]
    assert a[0] != asks(**{**jobs[0], "seed": 12})


# ------------------------------------------------------------------------------ the decision rule


def test_choose_action_known_answers():
    best = 0.2
    # P(y < best) for N(0.5, 0.1) is ~0.001 <= delta: stopped, even though its EI per cost would win
    assert choose_action(best, 0.1, [0.5], [0.1], [1.0], [0.3], [0.01], [1000.0]) == ("new", 0)
    # the same configuration with a wider spread passes the delta rule and wins on EI per cost
    assert prob_improvement(best, [0.25], [0.1])[0] > 0.1
    assert choose_action(best, 0.1, [0.25], [0.1], [1.0], [0.3], [0.01], [1000.0]) == ("continue", 0)
    # EI per unit of extra cost decides between a continuation and a new configuration
    ei_c = expected_improvement(best, [0.2], [0.05])[0]
    ei_n = expected_improvement(best, [0.3], [0.2])[0]
    cheap_enough = ei_c / ei_n * 27
    assert choose_action(best, 0.1, [0.2], [0.05], [cheap_enough * 0.9], [0.3], [0.2], [27.0]) == ("continue", 0)
    assert choose_action(best, 0.1, [0.2], [0.05], [cheap_enough * 1.1], [0.3], [0.2], [27.0]) == ("new", 0)
    # among continuations the best EI per cost wins; nothing allowed and no candidate -> None
    assert choose_action(best, 0.1, [0.2, 0.2], [0.05, 0.05], [18.0, 2.0], [], [], []) == ("continue", 1)
    assert choose_action(best, 0.1, [0.9], [0.01], [2.0], [], [], []) is None
    # EI is the closed form: E[max(best - Y, 0)]
    y = np.random.default_rng(0).normal(0.25, 0.1, 400_000)
    assert expected_improvement(best, [0.25], [0.1])[0] == pytest.approx(np.maximum(best - y, 0).mean(), rel=0.01)


def test_extra_cost_per_mode():
    cs = get_space("cnn")
    ladder = [1, 3, 9, 27]
    cont = OptiML(cs, ladder, 0)
    assert [cont._extra_cost(r) for r in (-1, 0, 1, 2)] == [27, 26, 24, 18]
    scratch = OptiML(cs, ladder, 0, continuation=False)
    assert [scratch._extra_cost(r) for r in (-1, 0, 1, 2)] == [40, 39, 36, 27]
    step = OptiML(cs, ladder, 0, extra_cost="step")
    assert [step._extra_cost(r) for r in (-1, 0, 1, 2)] == [1, 2, 6, 18]
    step_scratch = OptiML(cs, ladder, 0, extra_cost="step", continuation=False)
    assert [step_scratch._extra_cost(r) for r in (-1, 0, 1, 2)] == [1, 3, 9, 27]
    assert cont.settings()["extra_cost"] == "to_max" and cont.settings()["delta"] == 0.1


class Hopeless(Objective):
    """Configurations with ``kind="bad"`` are clearly hopeless at every budget (error 0.9);
    ``good`` ones improve with the budget towards a bowl in ``x``. The right decisions are
    known: never continue a bad one, continue the promising good ones to the largest budget."""

    def __init__(self, budgets=(1, 3, 9, 27)):
        cs = ConfigurationSpace(name="hopeless")
        cs.add([Categorical("kind", ["good", "bad"]), Float("x", (0.0, 1.0))])
        self.space = cs
        self.budgets = list(budgets)

    def value(self, config: dict[str, Any], budget: int) -> float:
        if config["kind"] == "bad":
            return 0.9
        return 0.1 + 0.3 * (config["x"] - 0.3) ** 2 + 0.3 / budget

    def evaluate(self, config, budget, seed, *, mode="scratch", resume_from=None, curve=False) -> Result:
        self.check_call(budget, mode, resume_from)
        epochs = budget - (resume_from or 0) if mode == "continue" else budget
        return Result(self.value(config, budget), float(epochs), int(epochs))

    def true_value(self, config):
        v = self.value(config, self.max_budget)
        return v, v


def test_hopeless_configurations_are_stopped_and_promising_ones_continued():
    obj = Hopeless()
    opt = OptiML(obj.space, obj.budgets, seed=0, n_init=8, **SMALL)
    hist = drive_epochs(opt, obj, 15 * 27, seed=0)
    bad_started = [t for t, _ in hist if t.config["kind"] == "bad"]
    assert bad_started, "the initial design should contain hopeless configurations"
    assert all(t.budget == obj.budgets[0] for t in bad_started), "a hopeless configuration was continued"
    top = [t for t, _ in hist if t.budget == obj.max_budget]
    assert len(top) >= 3 and all(t.config["kind"] == "good" for t in top)
    # of the good configurations, the ones that climbed are those near the optimum x = 0.3
    climbed = {config_id(t.config) for t in top}
    x_top = [t.config["x"] for t in top]
    x_stopped = [t.config["x"] for t, _ in hist if t.config["kind"] == "good" and config_id(t.config) not in climbed]
    assert np.mean(np.abs(np.array(x_top) - 0.3)) < np.mean(np.abs(np.array(x_stopped) - 0.3))


def test_failed_configuration_is_never_continued():
    obj = Hopeless()
    opt = OptiML(obj.space, obj.budgets, seed=1, n_init=4, **SMALL)
    first = opt.ask()
    opt.tell(first, Result(float("nan"), 1.0, 1, status="diverged"))
    hist = drive(opt, obj, 40)
    assert all(config_id(t.config) != config_id(first.config) for t, _ in hist)


@pytest.mark.parametrize("continuation", [True, False])
def test_modes_and_accounting_are_honest(continuation):
    obj = Hopeless()
    opt = OptiML(obj.space, obj.budgets, seed=2, n_init=5, continuation=continuation, **SMALL)
    hist = drive(opt, obj, 40)
    reached: dict[str, int] = {}
    for t, r in hist:
        k = obj.budgets.index(t.budget)
        if continuation:
            prev = obj.budgets[k - 1] if k else 0
            assert (t.mode, t.resume_from, r.cost_epochs) == ("continue", prev, t.budget - prev)
        else:
            assert (t.mode, t.resume_from, r.cost_epochs) == ("scratch", None, t.budget)
        reached[config_id(t.config)] = t.budget
    total = sum(r.cost_epochs for _, r in hist)
    if continuation:  # one training per configuration, paid once up to the rung it reached
        assert total == sum(reached.values())
    else:  # every rung a full training
        assert total == sum(t.budget for t, _ in hist)
    assert any(t.budget > obj.budgets[0] for t, _ in hist)


def test_parallel_asks_never_block():
    cs = get_space("cnn")
    obj = SyntheticObjective(cs, noise=0.02)
    opt = OptiML(cs, obj.budgets, seed=5, n_init=4, **SMALL)
    first = [opt.ask() for _ in range(3)]
    t0 = first[0]
    opt.tell(t0, obj.evaluate(t0.config, t0.budget, 0, mode=t0.mode, resume_from=t0.resume_from))
    more = [opt.ask() for _ in range(8)]  # model-based asks while two are still pending
    pending = first[1:] + more
    ids = [(config_id(t.config), t.budget) for t in [t0] + pending]
    assert len(ids) == len(set(ids))
    for t in reversed(pending):
        validate_config(cs, t.config)
        opt.tell(t, obj.evaluate(t.config, t.budget, 0, mode=t.mode, resume_from=t.resume_from))
    hist = drive(opt, obj, 20)
    all_ids = ids + [(config_id(t.config), t.budget) for t, _ in hist]
    assert len(all_ids) == len(set(all_ids))
    with pytest.raises(ValueError):
        opt.tell(t0, Result(0.5, 1.0, 1))  # told twice


def test_optiml_beats_random_search_on_an_easy_bowl():
    obj = SyntheticObjective(bowl_space("mixed"), (1, 3, 9, 27), noise=0.01)
    epochs = 30 * 27  # 30 full-budget trainings
    res = {
        "random": mean_regret("random", obj, range(3), epochs=epochs),
        "optiml": mean_regret("optiml", obj, range(3), epochs=epochs, **SMALL),
    }
    assert res["optiml"] < 0.7 * res["random"], res
