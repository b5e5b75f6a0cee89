"""Ray Tune's ASHA, Hyperband and BOHB schedulers driven without Ray: valid configurations, the
exact ladder (and the ladders Ray would round, refused), one training per Ray trial climbing
the ladder by continuation, Ray's crash path, determinism across processes and against other
numpy users, beating random search within a budget, and runs through the runner's lineage
checks on a tiny table."""

from __future__ import annotations

from collections import defaultdict
from typing import ClassVar

import numpy as np
import pytest

pytest.importorskip("ray.tune")

from support import asks, asks_in_subprocess, bowl_space, drive, mean_regret, tiny_tabular

from mfbench.core.errors import UsageError
from mfbench.execution.runner import run
from mfbench.objectives.synthetic import SyntheticObjective
from mfbench.optimizers import make_optimizer
from mfbench.optimizers.base import for_objective
from mfbench.optimizers.registry import get_optimizer_class
from mfbench.training.space import get_space

LADDER = [1, 3, 9, 27]
RAY = ["ray-asha", "ray-hyperband", "ray-bohb"]


def _by_trial(hist):
    out = defaultdict(list)
    for t, r in hist:
        out[t.info["trial_id"]].append((t, r))
    return out


@pytest.mark.parametrize("space", ["cnn", "cnn-grid"])
@pytest.mark.parametrize("name", RAY)
def test_valid_configs(name, space):
    cs = get_space(space)
    obj = SyntheticObjective(cs, LADDER, noise=0.02)
    hist = drive(make_optimizer(name, cs, LADDER, 0), obj, 60)  # asserts validity, natives, ladder
    assert len({t.config["architecture"] for t, _ in hist}) > 1
    assert {t.budget for t, _ in hist} == set(LADDER)


@pytest.mark.parametrize("name", RAY)
def test_one_training_per_ray_trial_climbs_the_ladder_by_continuation(name):
    obj = SyntheticObjective(get_space("cnn"), LADDER, noise=0.02)
    opt = make_optimizer(name, obj.space, LADDER, 1)
    hist = drive(opt, obj, 100 if name == "ray-bohb" else 150)  # BOHB's KDE costs CPU
    stopped_early = 0
    for steps in _by_trial(hist).values():
        start = 0
        for t, r in steps:
            assert t.mode == "continue" and t.resume_from == start == t.info["start"]
            assert r.cost_epochs == t.budget - start  # only the extra epochs are paid
            start = t.budget
        budgets = [t.budget for t, _ in steps]
        assert budgets == sorted(budgets) and set(budgets) <= set(LADDER)
        if name != "ray-asha":  # a Hyperband trial starts at its bracket's first rung, climbs rung by rung
            s = steps[0][0].info["bracket"][1]
            assert budgets == LADDER[len(LADDER) - 1 - s :][: len(budgets)]
        else:
            assert budgets == LADDER[: len(budgets)]
        stopped_early += budgets[-1] < LADDER[-1]
    assert stopped_early > 10  # the scheduler stops trainings before the top
    if name != "ray-asha":  # no bracket takes more trials than Ray sized it for (n0)
        n0 = dict(zip((len(b) - 1 for b in opt.brackets()), opt.bracket_sizes(), strict=True))
        per_bracket = defaultdict(set)
        for t, _ in hist:
            per_bracket[t.info["bracket"]].add(t.info["trial_id"])
        assert len(per_bracket) >= 5  # into a second Hyperband iteration
        for (_, s), trials in per_bracket.items():
            assert len(trials) <= n0[s], (s, len(trials), n0[s])


def test_a_continued_trial_is_asked_from_scratch_when_the_objective_cannot_continue():
    obj = SyntheticObjective(get_space("cnn"), LADDER, noise=0.02)
    obj.supports_continuation = False
    opt = for_objective(get_optimizer_class("ray-hyperband"), obj, seed=0)
    hist = drive(opt, obj, 80)
    assert all(t.mode == "scratch" and t.resume_from is None for t, _ in hist)
    assert any(len(steps) > 1 for steps in _by_trial(hist).values())
    assert opt.settings()["continuation"] is False


def test_hyperband_brackets_are_li_et_al_on_the_ladder():
    s = make_optimizer("ray-hyperband", get_space("cnn"), LADDER, 0).settings()
    assert s["brackets"] == [[27], [9, 27], [3, 9, 27], [1, 3, 9, 27]]
    assert s["bracket_sizes"] == [4, 6, 12, 27]  # n = ceil((s_max+1)/(s+1) * eta**s)
    b = make_optimizer("ray-bohb", get_space("cnn"), LADDER, 0).settings()
    assert b["brackets"] == [[1, 3, 9, 27], [3, 9, 27], [9, 27], [27]]
    assert b["max_pending_trials"] == 1 and s["max_pending_trials"] == 200
    a = make_optimizer("ray-asha", get_space("cnn"), LADDER, 0).settings()
    assert a["milestones"] == [[1, 3, 9, 27]] and a["grace_period"] == 1 and a["reduction_factor"] == 3


@pytest.mark.parametrize("name", ["ray-hyperband", "ray-bohb"])
@pytest.mark.parametrize("ladder", [[1, 3, 9, 27, 81, 243, 729], [2, 6, 18, 54, 162, 486, 1458]])
def test_hyperband_refuses_a_ladder_ray_would_round(name, ladder):
    """No minimum budget (brackets start at max_t / eta**s) and ``int(729 * 3**-6) == 0``, in
    units of the smallest rung too."""
    with pytest.raises(UsageError, match="Ray's Hyperband brackets climb"):
        make_optimizer(name, get_space("cnn"), ladder, 0)


@pytest.mark.parametrize("name", ["ray-hyperband", "ray-bohb"])
def test_hyperband_counts_in_units_of_the_smallest_rung(name):
    """Ladder 3, 9, 27 is Ray's 1, 3, 9 in units of 3: max_t 9, brackets on the ladder."""
    s = make_optimizer(name, get_space("cnn"), [3, 9, 27], 0).settings()
    assert (s["max_t"], s["time_unit"]) == (9, 3)
    assert sorted(s["brackets"], key=len) == [[27], [9, 27], [3, 9, 27]]


def test_asha_keeps_its_decisions_where_ray_drops_the_top_milestone():
    """int(log(243)/log(3) + 1) == 5: Ray's ASHA has no milestone at 243, where it stops every
    trial anyway; its decisions are at 1..81, the ladder's rungs below the top."""
    ladder = [1, 3, 9, 27, 81, 243]
    opt = make_optimizer("ray-asha", get_space("cnn-grid"), ladder, 0)
    assert opt.settings()["milestones"] == [[1, 3, 9, 27, 81]]
    hist = drive(opt, SyntheticObjective(opt.space, ladder, noise=0.02), 250)
    assert {t.budget for t, _ in hist} == set(ladder)


def test_refuses_a_non_geometric_ladder_and_unknown_options():
    with pytest.raises(UsageError, match="geometric"):
        make_optimizer("ray-asha", get_space("cnn"), [1, 3, 10], 0)
    with pytest.raises(UsageError, match="unknown options"):
        make_optimizer("ray-asha", get_space("cnn"), LADDER, 0, grace=2)


def test_a_crash_takes_rays_error_path():
    from ray.tune.experiment import Trial as RayTrial

    obj = SyntheticObjective(get_space("cnn"), LADDER, noise=0.02)
    opt = make_optimizer("ray-hyperband", obj.space, LADDER, 0)
    crashed = []
    for i in range(60):
        t = opt.ask()
        res = obj.evaluate(t.config, t.budget, i, mode=t.mode, resume_from=t.resume_from)
        if i % 7 == 3:
            res.status, res.val_error = "failed", float("nan")
            crashed.append(t.info["trial_id"])
        opt.tell(t, res)
        assert t.info["trial_id"] not in crashed[:-1] or i % 7 == 3  # an errored trial never runs again
    status = {rt.trial_id: rt.status for rt in opt.controller.trials}
    assert all(status[tid] == RayTrial.ERROR for tid in crashed)
    assert "Ray's trial ERROR path" in opt.settings()["on_crash"]


def test_owns_numpy_global_rng():
    """ASHA's ``on_trial_add`` draws from numpy's global generator: with several brackets that
    draw decides where a trial goes. Other draws in the process must not change the run."""
    cs = get_space("cnn")
    obj = SyntheticObjective(cs, LADDER, noise=0.02)

    def brackets(disturb: bool) -> list:
        opt = make_optimizer("ray-asha", cs, LADDER, 3, brackets=3)
        out = []
        for i in range(40):
            if disturb:
                np.random.seed(1000 + i)
            t = opt.ask()
            out.append((t.config, t.budget, id(opt.scheduler._trial_info[t.info["trial_id"]])))
            opt.tell(t, obj.evaluate(t.config, t.budget, i, mode=t.mode, resume_from=t.resume_from))
        ids = {b: k for k, b in enumerate(dict.fromkeys(b for *_, b in out))}
        return [(c, b, ids[x]) for c, b, x in out]

    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    clean = brackets(False)
    assert (np.random.get_state()[1] == before).all()  # the adapter leaves the caller's state alone
    assert brackets(True) == clean


def test_deterministic_across_processes():
    jobs = [{"name": n, "space": "cnn", "n": 40, "seed": 2} for n in RAY]
    a, b = asks_in_subprocess(jobs, hashseeds=(0, 1))
    assert a == b
    assert a[0] != asks("ray-asha", "cnn", 40, 3)


@pytest.mark.parametrize("name,factor", [("ray-asha", 0.6), ("ray-hyperband", 0.8), ("ray-bohb", 0.6)])
def test_beats_random_within_a_budget(name, factor):
    """Same budget of 20 full trainings (measured over seeds 0-2: ASHA 0.43x, Hyperband 0.57x,
    BOHB 0.24x the regret of random search). Hyperband with random search spends 1.4 of its iterations here and
    its widest bracket's survivors are few: it is held to hpbandster Hyperband's 0.8."""
    obj = SyntheticObjective(bowl_space(), LADDER)
    ours, rnd = (mean_regret(n, obj, range(3), epochs=20 * LADDER[-1]) for n in (name, "random"))
    assert ours < factor * rnd, (ours, rnd)


# ------------------------------------------------------------------- tiny tabular table


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory):
    return tiny_tabular(tmp_path_factory.mktemp("table"))


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("name", RAY)
def test_runs_through_the_runner_on_a_tiny_table(tiny_table, name, workers):
    """The runner refuses a continuation of a training the run does not have."""
    obj = tiny_table
    opt = for_objective(get_optimizer_class(name), obj, seed=0)
    traj = run(obj, opt, seed=0, budget_seconds=10 * obj.full_budget_cost(), workers=workers)
    d = traj.data
    assert set(d["budget"]) == set(obj.budgets)
    lineage_len = defaultdict(int)
    for lin in d["lineage"]:
        lineage_len[lin] += 1
    assert max(lineage_len.values()) > 1  # trainings were continued
    assert "continue" in d["mode"]


# ------------------------------------------------------------------- against Ray's own Tuner


@pytest.mark.slow
def test_ray_asha_proposes_what_rays_tuner_proposes(tmp_path):
    """Ray Tune's own loop (``Tuner.fit`` on a local ``ray.init(num_cpus=1)``, one trial at a
    time, numpy's global generator seeded as the adapter seeds its private one) and the adapter
    draw the same configurations in the same order, and ASHA stops each at the same epoch.
    About a minute on a loaded 2-core machine (Ray starts a cluster and one actor per trial)."""
    import ray
    from ray import tune
    from ray.tune.schedulers import AsyncHyperBandScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from mfbench.core.types import Result
    from mfbench.optimizers.adapters.ray import ray_param_space

    def _tiny(config, e):  # defined here: Ray pickles it by value for its workers
        return float((config["x"] - 0.3) ** 2 + (config["y"] - 0.6) ** 2 + 0.1 * config["z"] + 0.5 / e)

    def _tiny_trainable(config):
        for e in range(1, 10):  # reports every epoch, as a user's trainable would
            tune.report({"epochs": e, "val_error": _tiny(config, e)})

    ladder, n, seed = [1, 3, 9], 9, 5
    cs = bowl_space("uniform")
    opt = make_optimizer("ray-asha", cs, ladder, seed)
    reached: dict[str, tuple[float, int]] = {}
    order: list[str] = []
    while True:  # one worker; stop when the n-th trial has finished
        t = opt.ask()
        tid = t.info["trial_id"]
        if tid not in reached and len(order) == n:
            break
        if tid not in reached:
            order.append(tid)
        reached[tid] = (round(t.config["x"], 12), t.budget)  # Ray stores configs to 13 digits
        opt.tell(
            t,
            Result(val_error=_tiny(t.config, t.budget), cost_seconds=1.0, cost_epochs=t.budget - (t.resume_from or 0)),
        )
    ours = [reached[tid] for tid in order]
    assert {b for _, b in ours} == {1, 9}  # ASHA stopped some at the first rung

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        np.random.seed(seed)
        tuner = tune.Tuner(
            _tiny_trainable,
            param_space=ray_param_space(cs),
            tune_config=tune.TuneConfig(
                metric="val_error",
                mode="min",
                num_samples=n,
                max_concurrent_trials=1,
                scheduler=AsyncHyperBandScheduler(time_attr="epochs", max_t=9, grace_period=1, reduction_factor=3),
                search_alg=BasicVariantGenerator(random_state=seed),
            ),
            run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0),
        )
        grid = tuner.fit()
    finally:
        ray.shutdown()
    theirs = [
        (round(r.config["x"], 12), r.metrics["epochs"]) for r in sorted(grid, key=lambda r: r.metrics["trial_id"])
    ]
    assert theirs == ours


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ray-hyperband", "ray-bohb"])
def test_ray_hyperband_and_bohb_propose_what_rays_tuner_proposes(tmp_path, name):
    """Ray Tune's own loop (``Tuner.fit`` on a local ``ray.init(num_cpus=1)``, a trainable that
    reports every epoch and resumes a paused trial from its checkpoint) and the adapter, over one
    full Hyperband iteration on 1..9 (17 trials): the same configurations in the order Ray creates
    them, each stopped at the same epoch. The order in which trials *run* differs (the Tuner
    starts staged trials in the order Ray core grants their resources, the adapter runs the
    scheduler's ``choose_trial_to_run``); Hyperband halves a bracket only once every live trial
    reached its milestone, so its decisions do not depend on that order, and TuneBOHB's KDE
    sampled the same configurations. About 3 minutes each on a loaded 2-core machine."""
    import ray
    from ray import tune
    from ray.tune.schedulers import HyperBandForBOHB, HyperBandScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator
    from ray.tune.search.bohb import TuneBOHB

    from mfbench.core.types import Result
    from mfbench.optimizers.adapters.hpbandster import ordinals_as_indices
    from mfbench.optimizers.adapters.ray import ray_param_space

    def _tiny(config, e):  # defined here: Ray pickles it by value for its workers
        return float((config["x"] - 0.3) ** 2 + (config["y"] - 0.6) ** 2 + 0.1 * config["z"] + 0.5 / e)

    def _tiny_trainable(config):
        import os
        import tempfile

        start = 0
        checkpoint = tune.get_checkpoint()
        if checkpoint:  # a paused trial resumes where it stopped, as a user's trainable would
            with checkpoint.as_directory() as d, open(os.path.join(d, "epochs")) as fh:
                start = int(fh.read())
        for e in range(start + 1, 10):
            d = tempfile.mkdtemp()
            with open(os.path.join(d, "epochs"), "w") as fh:
                fh.write(str(e))
            tune.report({"epochs": e, "val_error": _tiny(config, e)}, checkpoint=tune.Checkpoint.from_directory(d))

    ladder, n, seed = [1, 3, 9], 17, 5
    cs = bowl_space("uniform")
    opt = make_optimizer(name, cs, ladder, seed)
    assert sum(opt.settings()["bracket_sizes"]) == n  # one full Hyperband iteration
    reached: dict[str, tuple[float, int]] = {}
    while True:  # one worker; stop when a trial of the next iteration is asked
        t = opt.ask()
        tid = t.info["trial_id"]
        if tid not in reached and len(reached) == n:
            break
        created = int(t.info["ray_trial"].experiment_tag.split("_")[0])  # Ray's trial counter
        reached[tid] = (created, round(t.config["x"], 12), t.budget)  # Ray stores configs to 13 digits
        opt.tell(
            t,
            Result(val_error=_tiny(t.config, t.budget), cost_seconds=1.0, cost_epochs=t.budget - (t.resume_from or 0)),
        )
    ours = sorted(reached.values())  # in the order Ray created the trials
    assert {b for _, _, b in ours} == {1, 3, 9}  # Hyperband stopped some at each rung

    class Created(tune.Callback):
        """Every trial of the Tuner, in the order its controller created them."""

        trials: ClassVar[list] = []

        def on_experiment_end(self, trials, **info):
            Created.trials = [
                (int(t.experiment_tag.split("_")[0]), round(t.config["x"], 12), t.last_result["epochs"]) for t in trials
            ]

    if name == "ray-hyperband":
        scheduler = HyperBandScheduler(time_attr="epochs", max_t=9, reduction_factor=3, stop_last_trials=True)
        search_alg, space = BasicVariantGenerator(random_state=seed), {"param_space": ray_param_space(cs)}
    else:
        scheduler = HyperBandForBOHB(time_attr="epochs", max_t=9, reduction_factor=3)
        search_alg = TuneBOHB(space=ordinals_as_indices(cs)[0], seed=seed, metric="val_error", mode="min")
        space = {}
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        np.random.seed(seed)  # what the adapter's private generator starts from (hpbandster's KDE draws from it)
        tuner = tune.Tuner(
            _tiny_trainable,
            **space,
            tune_config=tune.TuneConfig(
                metric="val_error",
                mode="min",
                num_samples=n,
                scheduler=scheduler,
                search_alg=search_alg,
                reuse_actors=False,
            ),
            run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0, callbacks=[Created()]),
        )
        tuner.fit()
    finally:
        ray.shutdown()
    assert sorted(Created.trials) == ours
