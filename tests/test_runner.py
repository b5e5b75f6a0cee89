"""The runner: event queue, budget accounting, continuation costs, seeds, incumbent, guards."""

from __future__ import annotations

import math
import time

import pytest

from mfbench.core.errors import UsageError
from mfbench.core.seeds import eval_seed, eval_seeds
from mfbench.core.types import Result, Trial
from mfbench.execution.runner import COLUMNS, parse_budget, run
from mfbench.objectives.synthetic import SyntheticObjective
from mfbench.optimizers.base import Optimizer
from mfbench.optimizers.native.random_search import RandomSearch
from mfbench.training.space import get_space, iter_grid, sample_configs

OPTIMUM = {"val_error": 0.0, "test_error": 0.0}
BOUNDS = {"best": 0.0, "worst": 10.0}


class Scripted(Optimizer):
    """Asks a fixed list of (config index, budget, mode, resume_from), cycling."""

    name = "scripted"

    def __init__(self, space, budgets, seed, script, configs, **options):
        super().__init__(space, budgets, seed, **options)
        self.script, self.configs, self.i, self.told = script, configs, 0, []

    def ask(self):
        c, b, mode, r = self.script[self.i % len(self.script)]
        self.i += 1
        return Trial(config=self.configs[c], budget=b, mode=mode, resume_from=r)

    def tell(self, trial, result):
        self.told.append((trial, result))


class Recording(SyntheticObjective):
    """Synthetic objective that records the seeds it is asked with; cost = budget x per-config rate."""

    def __init__(self, *a, rates=None, **kw):
        super().__init__(*a, **kw)
        self.seeds, self.rates = [], rates or {}

    def evaluate(self, config, budget, seed, **kw):
        self.seeds.append(seed)
        res = super().evaluate(config, budget, seed, **kw)
        rate = self.rates.get(config["architecture"], 1.0)
        return Result(res.val_error, res.cost_seconds * rate, res.cost_epochs, res.metrics)


@pytest.fixture(scope="module")
def grid():
    cs = get_space("cnn-grid")
    return cs, list(iter_grid(cs))


def test_budget_never_exceeded_with_one_and_many_workers(grid):
    cs, _ = grid
    obj = SyntheticObjective(cs, (1, 3, 9, 27), noise=0.01)
    for workers in (1, 3, 8):
        for budget in (27.0, 100.0, 1000.5):
            opt = RandomSearch(cs, obj.budgets, seed=workers)
            traj = run(obj, opt, seed=1, budget_seconds=budget, workers=workers)
            t = traj.data["sim_time"]
            # no worker sat idle while a whole (27 s) evaluation still fitted in the budget
            assert budget - max(t) < 27
            assert max(t) <= budget and all(0 <= f <= 1 for f in traj.data["budget_fraction"])
            assert t == sorted(t), "rows are in completion order"
            # every worker's evaluations are back to back: each one's end = its previous end + cost
            last = {}
            for w, now, cost in zip(traj.data["worker"], t, traj.data["cost_seconds"]):
                assert now == pytest.approx(last.get(w, 0.0) + cost)
                last[w] = now
            # the run stopped because the next evaluation of some worker would pass the budget
            assert min(last.values()) + 27 > budget
            assert set(traj.data["worker"]) == set(range(min(workers, traj.n_evals)))


def test_event_queue_order_and_ties(grid):
    cs, configs = grid
    by_arch = {c["architecture"]: c for c in configs}
    arch = ["resnet", "vgg", "inception"]
    obj = Recording(cs, (1, 3, 9, 27), rates={"resnet": 1.0, "vgg": 2.0, "inception": 1.0})
    cfgs = [by_arch[a] for a in arch]
    # worker 0: resnet@9 (9 s), worker 1: vgg@3 (6 s), worker 2: inception@9 (9 s, ties with worker 0)
    script = [(0, 9, "scratch", None), (1, 3, "scratch", None), (2, 9, "scratch", None), (0, 1, "scratch", None)]
    opt = Scripted(cs, obj.budgets, 0, script, cfgs)
    traj = run(obj, opt, seed=0, budget_seconds=10.0, workers=3)
    # completions: w1 at 6 -> asks resnet@1 (ends 7); w0 at 9 and w2 at 9 (tie: worker 0 first);
    # w1 at 7 asks resnet@9 (ends 16 > 10: dropped); w0 at 9 asks vgg@3 (ends 15: dropped) ...
    assert traj.data["worker"][:4] == [1, 1, 0, 2]
    assert traj.data["sim_time"][:4] == [6.0, 7.0, 9.0, 9.0]
    assert traj.n_evals == 4 and len(opt.told) == 4
    assert traj.data["epochs_used"] == [3, 4, 13, 22]


def test_continuation_costs_only_the_extra_epochs(grid):
    cs, configs = grid
    obj = SyntheticObjective(cs, (1, 3, 9, 27))
    script = [(0, 9, "continue", 0), (0, 27, "continue", 9), (1, 27, "scratch", None)]
    opt = Scripted(cs, obj.budgets, 0, script, configs)
    traj = run(obj, opt, seed=0, budget_seconds=62.0)  # the next one (9 s) would end at 63
    assert traj.data["mode"] == ["continue", "continue", "scratch"]
    assert traj.data["cost_epochs"] == [9, 18, 27]
    assert traj.data["cost_seconds"] == [9.0, 18.0, 27.0]
    assert traj.data["epochs_used"] == [9, 27, 54]
    assert traj.data["sim_time"] == [9.0, 27.0, 54.0]


def test_noise_seed_is_a_stable_hash_of_run_seed_and_index(grid):
    cs, _ = grid
    # fixed values (splitmix64, not hash()): the same in every process, machine and Python version
    from mfbench.core.seeds import splitmix64

    # the reference generator's first two outputs from state 0 (Vigna's splitmix64.c)
    assert (splitmix64(0), splitmix64(0x9E3779B97F4A7C15)) == (0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4)
    assert [eval_seed(0, i) for i in range(3)] == [2802244911, 146079144, 3620509300]
    assert eval_seed(7, 5) == 2294241434 and eval_seed(2**40, 3) == 1930141767
    assert eval_seeds(7, 1000, 2000) == [eval_seed(7, i) for i in range(1000, 3000)]
    assert len({eval_seed(s, i) for s in range(5) for i in range(50)}) == 250
    obj = Recording(cs, (1, 3, 9, 27), noise=0.05)
    traj = run(obj, RandomSearch(cs, obj.budgets, 3), seed=3, budget_seconds=270.0)
    assert obj.seeds == [eval_seed(3, i) for i in range(len(obj.seeds))]
    again = run(
        Recording(cs, (1, 3, 9, 27), noise=0.05), RandomSearch(cs, obj.budgets, 3), seed=3, budget_seconds=270.0
    )
    cols = [c for c in traj.data if c != "overhead_seconds"]
    assert {c: traj.data[c] for c in cols} == {c: again.data[c] for c in cols}
    other = run(
        Recording(cs, (1, 3, 9, 27), noise=0.05), RandomSearch(cs, obj.budgets, 3), seed=4, budget_seconds=270.0
    )
    assert other.data["val_error"] != traj.data["val_error"]


def test_incumbent_is_best_observed_at_highest_budget_scored_noise_free(grid):
    cs, configs = grid
    obj = SyntheticObjective(cs, (1, 3, 9, 27), noise=0.05)
    script = [(i % 20, b, "scratch", None) for i, b in enumerate([1, 3, 1, 3, 27, 9, 27, 27, 1, 27] * 3)]
    traj = run(obj, Scripted(cs, obj.budgets, 0, script, configs), seed=0, budget_seconds=10_000.0)
    d = traj.data
    for n in range(traj.n_evals):
        top = max(d["budget"][: n + 1])
        cands = [(d["val_error"][i], i) for i in range(n + 1) if d["budget"][i] == top]
        best_i = min(cands)[1]
        assert d["incumbent_config_id"][n] == d["config_id"][best_i]
        cfg = next(
            c
            for c in configs
            if __import__("mfbench.training.space").training.space.config_id(c) == d["config_id"][best_i]
        )
        assert (d["incumbent_val_error"][n], d["incumbent_test_error"][n]) == obj.true_value(cfg)
    worst = max(obj.true_value(c)[0] for c in configs)
    cols = traj.columns(obj.optimum, {"best": obj.optimum["val_error"], "worst": worst})
    assert list(cols) == list(COLUMNS)
    assert all(r >= -1e-12 for r in cols["regret"])
    assert cols["regret"][-1] == pytest.approx(d["incumbent_val_error"][-1] - obj.optimum["val_error"])
    assert all(0 <= r <= 1 for r in cols["normalized_regret"])


def test_overhead_is_measured_and_only_counted_when_asked(grid):
    cs, _ = grid
    obj = SyntheticObjective(cs, (1, 3, 9, 27))

    class Slow(RandomSearch):
        def ask(self):
            time.sleep(0.01)
            return super().ask()

    plain = run(obj, Slow(cs, obj.budgets, 0), seed=0, budget_seconds=135.0)
    assert plain.data["sim_time"] == [27.0 * (i + 1) for i in range(5)]
    assert all(o >= 0.01 for o in plain.data["overhead_seconds"])
    counted = run(obj, Slow(cs, obj.budgets, 0), seed=0, budget_seconds=135.0, count_overhead=True)
    assert counted.n_evals == 4  # the fifth evaluation now ends past 135 s
    assert counted.data["sim_time"][0] >= 27.01
    for now, prev, cost in zip(counted.data["sim_time"][1:], counted.data["sim_time"], counted.data["cost_seconds"]):
        assert now >= prev + cost + 0.01


def test_max_evals_guard_stops_zero_cost_loops(grid):
    cs, _ = grid

    class Free(SyntheticObjective):
        def evaluate(self, *a, **kw):
            r = super().evaluate(*a, **kw)
            return Result(r.val_error, 0.0, 0, r.metrics)

    obj = Free(cs, (1, 3, 9, 27))
    traj = run(obj, RandomSearch(cs, obj.budgets, 0), seed=0, budget_seconds=10.0, workers=2, max_evals=50)
    assert traj.n_evals == 50 and traj.stopped_by == "max_evals"


def test_invalid_trials_are_refused(grid):
    cs, configs = grid
    obj = SyntheticObjective(cs, (1, 3, 9, 27))
    with pytest.raises(ValueError, match="not on the ladder"):
        run(obj, Scripted(cs, obj.budgets, 0, [(0, 5, "scratch", None)], configs), seed=0, budget_seconds=100.0)
    bad = dict(configs[0], dropout=0.3)  # a constant of the grid space
    with pytest.raises(ValueError, match="invalid config"):
        run(obj, Scripted(cs, obj.budgets, 0, [(0, 27, "scratch", None)], [bad]), seed=0, budget_seconds=100.0)
    # ConfigSpace accepts 1 for True, but the config id (and every table lookup) would differ
    # from the one of the space's own value: keras-tuner hands booleans back that way
    cnn = get_space("cnn")
    c = dict(next(c for c in sample_configs(cnn, 20, 0, "random") if c["batch_norm"]), batch_norm=1)
    with pytest.raises(ValueError, match="space's own values"):
        run(
            SyntheticObjective(cnn, (1, 3, 9, 27)),
            Scripted(cnn, obj.budgets, 0, [(0, 27, "scratch", None)], [c]),
            seed=0,
            budget_seconds=100.0,
        )
    # ... also after the valid twin was seen (1 == True: the runner's id cache must not match them)
    twin = dict(c, batch_norm=True)
    with pytest.raises(ValueError, match="space's own values"):
        run(
            SyntheticObjective(cnn, (1, 3, 9, 27)),
            Scripted(cnn, obj.budgets, 0, [(0, 27, "scratch", None), (1, 27, "scratch", None)], [twin, c]),
            seed=0,
            budget_seconds=1000.0,
        )
    with pytest.raises(ValueError, match="continue from 9 to 9"):
        run(obj, Scripted(cs, obj.budgets, 0, [(0, 9, "continue", 9)], configs), seed=0, budget_seconds=100.0)
    obj.supports_continuation = False
    with pytest.raises(ValueError, match="does not support"):
        run(obj, Scripted(cs, obj.budgets, 0, [(0, 27, "continue", 9)], configs), seed=0, budget_seconds=100.0)

    class Bad(SyntheticObjective):
        def evaluate(self, *a, **kw):
            r = super().evaluate(*a, **kw)
            return Result(r.val_error, math.nan, r.cost_epochs, r.metrics)

    with pytest.raises(ValueError, match="cost"):
        run(Bad(cs, (1, 3, 9, 27)), RandomSearch(cs, [1, 3, 9, 27], 0), seed=0, budget_seconds=100.0)


def test_parse_budget():
    assert parse_budget("50x", 27.0) == 1350.0
    assert parse_budget("2.5x", 10.0) == 25.0
    assert parse_budget("3600") == 3600.0 and parse_budget("90s") == 90.0 and parse_budget(12) == 12.0
    for bad in ("x", "-3x", "0", "abc", "10y"):
        with pytest.raises(UsageError):
            parse_budget(bad, 27.0)
    with pytest.raises(UsageError):
        parse_budget("10x", float("nan"))


def test_an_exhausted_optimizer_ends_its_run_as_finished(grid):
    """SMAC raises when a finite space has nothing new left: the run keeps what it found."""
    from mfbench.core.errors import SearchExhausted

    cs, configs = grid
    obj = SyntheticObjective(cs, (1, 3, 9, 27))

    class Three(RandomSearch):
        n = 0

        def ask(self):
            self.n += 1
            if self.n > 3:
                raise SearchExhausted("nothing new")
            return super().ask()

    for workers in (1, 2):
        traj = run(obj, Three(cs, obj.budgets, 0), seed=0, budget_seconds=1e6, workers=workers)
        assert traj.n_evals == 3 and traj.stopped_by == "exhausted"
