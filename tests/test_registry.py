"""Every registered optimizer, built the way ``replay`` and ``tune`` build it, runs under the
runner's checks against an objective that can continue trainings and one that cannot."""

from __future__ import annotations

import pytest

from mfbench.execution.runner import run
from mfbench.objectives.synthetic import SyntheticObjective
from mfbench.optimizers.base import for_objective
from mfbench.optimizers.registry import REGISTRY, get_optimizer_class
from mfbench.training.space import get_space


class NoContinuation(SyntheticObjective):
    """An objective that, like a surrogate of final values, cannot resume a training."""

    supports_continuation = False


def _objective(continuation: bool) -> SyntheticObjective:
    cls = SyntheticObjective if continuation else NoContinuation
    return cls(get_space("cnn", seed=0), (1, 3, 9, 27), noise=0.01, seconds_per_epoch=1.0, name="synthetic")


@pytest.mark.parametrize("continuation", [True, False], ids=["continues", "scratch-only"])
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_optimizer_runs_as_replay_builds_it(name: str, continuation: bool) -> None:
    objective = _objective(continuation)
    cls = get_optimizer_class(name)
    opt = for_objective(cls, objective, seed=3)
    # the runner validates every trial (config in the space, budget on the ladder, modes the
    # objective supports); a violation raises here
    traj = run(objective, opt, seed=3, budget_seconds=4 * 27, max_evals=40, benchmark="synthetic")
    # it kept proposing until the run ended: no optimizer gives up on this space before its budget
    assert traj.stopped_by in ("budget", "max_evals"), f"{name} stopped by {traj.stopped_by!r}"
    modes = set(traj.columns({"val_error": 0.0, "test_error": 0.0}, {"best": 0.0, "worst": 1.0})["mode"])
    if not continuation:
        assert modes == {"scratch"}, f"{name} asked to continue on an objective that cannot"
    settings = opt.settings()
    assert settings["name"] == name and settings["seed"] == 3
    if cls.capabilities.continuation:
        # what the optimizer was told is in the manifest, so a reader knows how it paid
        assert settings["continuation"] is continuation


def test_smac_sizes_its_initial_design_by_the_runs_length():
    """A SMAC user sets n_trials to the budget; the initial design is a quarter of it. Without
    the runner's hint a 30x run would be all initial design (SMAC's default n_trials is 100)."""
    objective = _objective(True)
    cls = get_optimizer_class("smac-bo-rf")
    short = for_objective(cls, objective, seed=0, full_budgets=30.0)
    assert short.settings()["initial_design_trials"] == 30
    assert short.n_initial == 7  # SMAC's rule: min(10 per hyperparameter, 0.25 * n_trials)
    assert for_objective(cls, objective, seed=0).settings()["initial_design_trials"] == 100
    # an explicit option wins over the hint, and an optimizer without budget_option gets none
    assert for_objective(cls, objective, seed=0, full_budgets=30.0, n_initial=3).n_initial == 3
    assert (
        "initial_design_trials"
        not in for_objective(get_optimizer_class("random"), objective, 0, full_budgets=30.0).settings()
    )


def test_every_library_optimizer_is_credited_to_its_library():
    """The report groups optimizers by the library that decides for them; an adapter moved or
    renamed must not silently count as mfbench's own."""
    from mfbench.optimizers.registry import FRAMEWORKS, framework_of

    library = {
        "tpe": "Optuna",
        "hyperopt-tpe": "hyperopt",
        "smac-bo-gp": "SMAC",
        "bohb": "hpbandster",
        "kt-bo": "Keras Tuner",
        "dehb": "DEHB",
        "ray-asha": "Ray Tune",
        "ga": "mfbench",
        "optiml": "mfbench",
    }
    assert {n: framework_of(n) for n in library} == library
    assert {framework_of(n) for n in REGISTRY} == set(FRAMEWORKS)
