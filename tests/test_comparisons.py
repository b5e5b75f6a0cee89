"""What makes a comparison of optimizers trustworthy (issue 15): a continued training is one
training, the runner refuses continuations of trainings that do not exist, the GA is the same
algorithm with parallel workers, and one failure policy holds for every optimizer."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from support import LADDER, make_tiny_table

from mfbench.core.types import Result, Trial
from mfbench.execution.runner import run
from mfbench.objectives.synthetic import SyntheticObjective
from mfbench.objectives.tabular import TabularObjective
from mfbench.optimizers.base import Optimizer, for_objective
from mfbench.optimizers.registry import get_optimizer_class, make_optimizer
from mfbench.training.space import config_id, get_space, iter_grid

CONTINUING = ["tpe-asha", "tpe-hb", "ga-mf", "optiml", "kt-hyperband"]


@pytest.fixture(scope="module")
def three_seed_table(tmp_path_factory):
    """The whole ``cnn-grid`` with three recorded seeds: a continuation that switched seed would
    show it two times in three."""
    path = make_tiny_table(tmp_path_factory.mktemp("t") / "grid3.sqlite", "cnn-grid", None, (0, 1, 2), (1, 3, 9))
    return TabularObjective(path)


def _lineages(traj) -> dict[int, list[tuple[str, int | None, str, int]]]:
    d = traj.data
    out: dict[int, list] = defaultdict(list)
    for lin, cid, ts, mode, b in zip(d["lineage"], d["config_id"], d["training_seed"], d["mode"], d["budget"]):
        out[lin].append((cid, ts, mode, b))
    return out


@pytest.mark.parametrize("name", CONTINUING)
def test_every_rung_of_a_continued_training_reads_one_recorded_seed(three_seed_table, name):
    obj = three_seed_table
    opt = for_objective(get_optimizer_class(name), obj, seed=0)
    traj = run(obj, opt, seed=0, budget_seconds=30 * obj.full_budget_cost())
    lineages = _lineages(traj)
    continued = [evs for evs in lineages.values() if len(evs) > 1]
    assert len(continued) >= 3, f"{name} continued too few trainings to test anything"
    for evs in lineages.values():
        assert len({cid for cid, *_ in evs}) == 1  # one configuration per training
        assert len({ts for _, ts, *_ in evs}) == 1, f"{name}: a continued training switched seed: {evs}"
        assert [m for *_, m, _ in evs][1:] == ["continue"] * (len(evs) - 1)
        budgets = [b for *_, b in evs]
        assert budgets == sorted(budgets) and len(set(budgets)) == len(budgets)
    assert set(traj.data["training_seed"]) <= {0, 1, 2}


class Scripted(Optimizer):
    """Asks a fixed list of (config index, budget, mode, resume_from), cycling."""

    name = "scripted"

    def __init__(self, space, budgets, seed, script, configs, **options):
        super().__init__(space, budgets, seed, **options)
        self.script, self.configs, self.i = script, configs, 0

    def ask(self):
        c, b, mode, r = self.script[self.i % len(self.script)]
        self.i += 1
        return Trial(config=self.configs[c], budget=b, mode=mode, resume_from=r)

    def tell(self, trial, result):
        pass


@pytest.fixture(scope="module")
def grid():
    cs = get_space("cnn-grid")
    return cs, list(iter_grid(cs))[:3]


def test_a_continued_training_keeps_one_noise_stream(grid):
    cs, configs = grid
    obj = SyntheticObjective(cs, LADDER, noise=0.05)
    chain = [(0, 1, "continue", 0), (0, 3, "continue", 1), (0, 9, "continue", 3), (0, 27, "continue", 9)]
    traj = run(obj, Scripted(cs, LADDER, 0, chain + [(1, 27, "scratch", None)], configs), seed=4, budget_seconds=100.0)
    d = traj.data
    first = [i for i, lin in enumerate(d["lineage"]) if lin == d["lineage"][0]]
    assert [d["budget"][i] for i in first] == [1, 3, 9, 27]
    residuals = [d["val_error"][i] - obj._mean(configs[0], d["budget"][i]) for i in first]
    assert max(residuals) - min(residuals) < 1e-12 and abs(residuals[0]) > 1e-6  # one draw, continued
    assert len({d["training_seed"][i] for i in first}) == 1
    assert d["lineage"][4] != d["lineage"][0]  # a scratch training is a new lineage


@pytest.mark.parametrize(
    "script, workers, match",
    [
        ([(0, 27, "continue", 9)], 1, "from 9 epochs, but no idle training"),  # never trained
        ([(0, 1, "continue", 0), (0, 9, "continue", 3)], 1, "stands at 3 epochs"),  # trained to 1, not 3
        ([(0, 9, "scratch", None), (0, 27, "continue", 9)], 1, "on the longest schedule"),  # a 9-epoch schedule
        ([(0, 9, "continue", 0), (0, 27, "continue", 9), (1, 9, "continue", 0)], 2, "idle"),  # still training
        ([(0, 3, "continue", 0), (1, 9, "continue", 3)], 1, "from 3 epochs"),  # another config's training
    ],
)
def test_the_runner_refuses_a_continuation_of_a_training_the_run_does_not_have(grid, script, workers, match):
    cs, configs = grid
    obj = SyntheticObjective(cs, LADDER)
    with pytest.raises(ValueError, match=f"scripted asked to continue .*{match}"):
        run(obj, Scripted(cs, LADDER, 0, script, configs), seed=0, budget_seconds=1e4, workers=workers)


def test_a_valid_continuation_chain_is_accepted_twice_over(grid):
    cs, configs = grid
    obj = SyntheticObjective(cs, LADDER)
    script = [(0, 3, "continue", 0), (0, 9, "continue", 3), (0, 3, "continue", 0), (0, 9, "continue", 3)]
    traj = run(obj, Scripted(cs, LADDER, 0, script, configs), seed=0, budget_seconds=18.0)
    assert traj.data["lineage"] == [0, 0, 1, 1]
    assert traj.data["repeat"] == [False, False, True, True]


# ------------------------------------------------------------------ the GA with parallel workers


def _ga_run(name, workers, seed, budget_seconds):
    cs = get_space("cnn")
    obj = SyntheticObjective(cs, LADDER, noise=0.01)  # one epoch costs one simulated second
    opt = for_objective(get_optimizer_class(name), obj, seed=seed)
    return obj, opt, run(obj, opt, seed=seed, budget_seconds=budget_seconds, workers=workers)


@pytest.mark.parametrize("name", ["ga", "ga-mf"])
@pytest.mark.parametrize("workers", [1, 2, 4])
def test_the_ga_reaches_every_rung_and_completes_generations_with_parallel_workers(name, workers):
    obj, opt, traj = _ga_run(name, workers, 0, 60 * 27 / workers)  # the same compute for every W
    assert set(traj.data["budget"]) == set(opt.rungs)
    assert len(opt.population) == opt.population_size  # generation 0 completed
    # no generation has more offspring than its quota at its lowest rung
    assert all(len(g.members) <= g.quota for g in opt._generations)
    evaluated = {(cid, b) for cid, b in zip(traj.data["config_id"], traj.data["budget"])}
    assert sum(1 for _, b in evaluated if b == opt.max_budget) >= 10


@pytest.mark.parametrize("name", ["ga", "ga-mf"])
def test_the_ga_with_four_workers_is_not_worse_than_with_one_at_the_same_budget(name):
    # the same budget of simulated seconds (what ``replay --budget`` sets): four workers do
    # more in it, and must not end worse than one beyond the seed noise
    finals = {}
    for workers in (1, 4):
        vals = []
        for seed in range(6):
            obj, _, traj = _ga_run(name, workers, seed, 20 * 27)
            vals.append(traj.data["incumbent_val_error"][-1] - obj.optimum["val_error"])
        finals[workers] = np.asarray(vals)
    diff = finals[4] - finals[1]
    se = diff.std(ddof=1) / math.sqrt(len(diff))
    assert diff.mean() <= 2 * se + 1e-3, (finals[1].mean(), finals[4].mean(), se)


# ------------------------------------------------------------------ one failure policy

ALL_LEARNING = [
    "tpe",
    "tpe-asha",
    "hyperopt-tpe",
    "smac-bo-rf",
    "smac-hb",
    "hyperband",
    "bohb",
    "kt-bo",
    "kt-hyperband",
    "dehb",
    "ga",
    "ga-mf",
    "optiml",
]


@pytest.fixture(scope="module")
def statuses_table(tmp_path_factory):
    """One table holding both statuses: config A diverged at epoch 1 in every run, config B failed."""
    configs = list(iter_grid(get_space("cnn-grid")))
    a, b = config_id(configs[0]), config_id(configs[1])
    path = make_tiny_table(
        tmp_path_factory.mktemp("s") / "statuses.sqlite", "cnn-grid", None, (0, 1), LADDER, diverge={a: 1}, fail=[b]
    )
    obj = TabularObjective(path)
    return obj, configs[0], configs[1], configs[2]


def _spy(name, opt):
    """Install a spy on what the library itself receives; returns a function ``trial -> what``:
    ``("crash", None)`` or ``("value", loss)``."""
    seen: dict[int, tuple] = {}
    if name.startswith("smac"):
        from smac.runhistory.enumerations import StatusType

        tell = opt.facade.tell

        def spy(info, value, save=False):
            seen[id(info)] = ("crash", None) if value.status == StatusType.CRASHED else ("value", value.cost)
            return tell(info, value, save=save)

        opt.facade.tell = spy
        return lambda t: seen[id(t.info)]
    if name.startswith("tpe"):
        from optuna.trial import TrialState

        tell = opt.study.tell

        def spy(trial, values=None, state=None, **kw):
            if state == TrialState.FAIL:
                seen[trial.number] = ("crash", None)
            elif values is not None:
                seen[trial.number] = ("value", values)
            return tell(trial, values, state=state, **kw)

        opt.study.tell = spy

        def told(t):
            if t.info.trial.number in seen:
                return seen[t.info.trial.number]
            return ("value", opt.study.trials[t.info.trial.number].intermediate_values[t.budget])  # a lower rung

        return told
    if name == "hyperopt-tpe":
        return lambda t: (
            ("crash", None) if t.info["result"]["status"] == "fail" else ("value", t.info["result"]["loss"])
        )
    if name in ("hyperband", "bohb"):

        def told(t):
            cid = t.info["config_id"]
            loss = opt._iterations[cid[0]].data[cid].results[t.info["budget"]]["loss"]
            return ("crash", None) if not math.isfinite(loss) else ("value", loss)

        return told
    if name == "dehb":
        tell = opt._dehb.tell

        def spy(job, result, *a, **kw):
            seen[id(job)] = ("value", result["fitness"])
            return tell(job, result, *a, **kw)

        opt._dehb.tell = spy
        return lambda t: seen[id(t.info)]
    if name.startswith("kt"):
        update = opt.oracle.update_trial

        def spy(trial_id, metrics, step=0):
            seen[trial_id] = ("value", metrics["val_error"] if "val_error" in metrics else next(iter(metrics.values())))
            return update(trial_id, metrics, step=step)

        opt.oracle.update_trial = spy
        return lambda t: seen[t.info["kt_trial"].trial_id]
    if name in ("ga", "ga-mf"):

        def told(t):
            uid, rung = t.info
            ind = next(i for g in opt._generations for i in g.members if i.uid == uid) if opt._generations else None
            if ind is None:
                ind = next(i for i in opt.population if i.uid == uid)
            err = ind.errors[rung]
            return ("crash", None) if err == math.inf else ("value", err)

        return told
    if name == "optiml":
        tell = opt.tell

        def spy(trial, result):
            tell(trial, result)
            seen[id(trial)] = ("value", opt._y[-1])  # what its model learns from

        opt.tell = spy
        return lambda t: seen[id(t)]
    raise AssertionError(name)


@pytest.mark.parametrize("name", ALL_LEARNING)
def test_one_failure_policy_a_divergence_is_a_result_a_failure_is_a_crash(statuses_table, name):
    obj, diverged, failed, ok = statuses_table
    opt = make_optimizer(name, obj.space, obj.budgets, seed=0)
    received = _spy(name, opt)
    # answer three asks with the table's results for an ok, a failed and a diverged training at
    # the asked budget (the policy is about the result, not about which config produced it)
    answers = []
    for cfg, budget in ((ok, 27), (failed, 27), (diverged, 3)):  # diverged at epoch 1, so worthless at 3
        t = opt.ask()
        res = obj.evaluate(cfg, budget, 0)
        res = Result(res.val_error, res.cost_seconds, t.budget - (t.resume_from or 0), res.metrics, res.status)
        opt.tell(t, res)
        answers.append((t, res))
    (t_ok, r_ok), (t_failed, r_failed), (t_div, r_div) = answers
    assert (r_ok.status, r_failed.status, r_div.status) == ("ok", "failed", "diverged")
    assert r_div.val_error == pytest.approx(0.9) and r_ok.val_error < 0.9
    # a divergence is the network's real (chance-level) error, never a crash
    assert received(t_div) == ("value", pytest.approx(r_div.val_error))
    # a failure is a crash: the library's own mechanism, else the worst error seen so far (the ok one)
    what, value = received(t_failed)
    if opt.on_crash.startswith("the worst error seen"):
        assert (what, value) == ("value", pytest.approx(r_ok.val_error))
    else:
        assert what == "crash", f"{name} got {value} for a failed evaluation"
