"""TabularObjective and RealObjective on tables built in the test (milliseconds, no training
except the one test marked slow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support import make_tiny_table

from mfbench.core.errors import UsageError
from mfbench.core.seeds import mix64, mix64_int, standard_normal
from mfbench.core.types import STATUSES, Result
from mfbench.objectives.real import RealObjective
from mfbench.objectives.tabular import TabularObjective
from mfbench.tables.table import TableWriter, load_table
from mfbench.training.records import TrialResult
from mfbench.training.space import config_id, get_space, iter_grid, sample_configs

SEEDS = (0, 1)
LADDER = (1, 3, 9)


@pytest.fixture(scope="module")
def grid_path(tmp_path_factory):
    grid = list(iter_grid(get_space("cnn-grid")))
    div = next(c for c in grid if c["lr_schedule"] == "cosine")
    path = make_tiny_table(
        tmp_path_factory.mktemp("grid") / "grid.sqlite", "cnn-grid", None, SEEDS, LADDER, diverge={config_id(div): 2}
    )
    return path, config_id(div)


@pytest.fixture(scope="module")
def obj(grid_path):
    return TabularObjective(grid_path[0])


def _cfg(obj, schedule):
    return next(c for c in obj.configs if c["lr_schedule"] == schedule and config_id(c) != _DIV[0])


_DIV: list[str] = []


@pytest.fixture(autouse=True, scope="module")
def _remember_div(grid_path):
    _DIV[:] = [grid_path[1]]


def test_status_codes_match_the_training_core():
    assert STATUSES[:3] == ("ok", "diverged", "failed")


def test_space_and_reference_values(obj, grid_path):
    T = load_table(grid_path[0])
    assert obj.space.name == "cnn-grid" and obj.is_grid and len(obj.configs) == 144
    assert obj.budgets == list(LADDER) and obj.max_budget == 9
    val = 1 - T.metrics["val_acc"][:, :, -1, 8].mean(axis=1)
    assert obj.optimum["val_error"] == pytest.approx(val.min())
    assert obj.bounds == {"best": pytest.approx(val.min()), "worst": pytest.approx(val.max())}
    cfg = obj.configs[7]
    i = T.index[config_id(cfg)]
    assert obj.true_value(cfg)[0] == pytest.approx(val[i])
    assert obj.true_value(cfg)[1] == pytest.approx(1 - T.metrics["test_acc"][i, :, -1, 8].mean())
    secs = (T.metrics["train_seconds"] + T.metrics["eval_seconds"])[:, :, -1, :].sum(axis=2).mean(axis=1)
    assert obj.full_budget_cost() == pytest.approx(np.median(secs))


@pytest.mark.parametrize("budget", LADDER)
def test_exact_lookup_scratch_reads_the_run_of_that_schedule(obj, grid_path, budget):
    T = load_table(grid_path[0])
    cfg = _cfg(obj, "cosine")
    i, j = T.index[config_id(cfg)], T.budget_index[budget]
    recorded = {round(1 - T.metrics["val_acc"][i, s, j, budget - 1], 12): s for s in range(len(SEEDS))}
    for seed in range(6):
        r = obj.evaluate(cfg, budget, seed)
        s = recorded[round(r.val_error, 12)]  # the value of exactly one recorded seed
        assert s == mix64_int(seed, int(config_id(cfg), 16), budget) % len(SEEDS)
        secs = T.metrics["train_seconds"][i, s, j, :budget] + T.metrics["eval_seconds"][i, s, j, :budget]
        assert r.cost_seconds == pytest.approx(secs.sum()) and r.cost_epochs == budget
        assert r.metrics["test_error"] == pytest.approx(1 - T.metrics["test_acc"][i, s, j, budget - 1])
        assert r.status == "ok"


def test_continue_reads_the_longest_run_and_costs_only_the_extra_epochs(obj, grid_path):
    T = load_table(grid_path[0])
    cfg = _cfg(obj, "cosine")
    i = T.index[config_id(cfg)]
    mean = TabularObjective(grid_path[0], noise="mean")
    r = mean.evaluate(cfg, 3, 0, mode="continue", resume_from=1)
    assert r.val_error == pytest.approx((1 - T.metrics["val_acc"][i, :, -1, 2]).mean())
    secs = T.metrics["train_seconds"][i, :, -1, 1:3] + T.metrics["eval_seconds"][i, :, -1, 1:3]
    assert r.cost_seconds == pytest.approx(secs.sum(axis=1).mean()) and r.cost_epochs == 2
    scratch = mean.evaluate(cfg, 3, 0)
    assert scratch.val_error == pytest.approx((1 - T.metrics["val_acc"][i, :, 1, 2]).mean())
    assert scratch.val_error != pytest.approx(r.val_error)  # cosine: epoch 3 of 9 is not a 3-epoch training
    assert mean.evaluate(cfg, 3, 0, mode="continue").cost_epochs == 3
    # one seed follows one training as it is resumed
    a = obj.evaluate(cfg, 3, 5, mode="continue", resume_from=1)
    b = obj.evaluate(cfg, 9, 5, mode="continue", resume_from=3)
    s = mix64_int(5, int(config_id(cfg), 16), 9) % 2
    assert a.val_error == pytest.approx(1 - T.metrics["val_acc"][i, s, -1, 2])
    assert b.val_error == pytest.approx(1 - T.metrics["val_acc"][i, s, -1, 8])


def test_constant_schedule_scratch_and_continue_coincide(obj):
    cfg = _cfg(obj, "constant")
    scratch = {(r.val_error, r.cost_seconds) for r in (obj.evaluate(cfg, 3, s) for s in range(40))}
    cont = {(r.val_error, r.cost_seconds) for r in (obj.evaluate(cfg, 3, s, mode="continue") for s in range(40))}
    assert scratch == cont and len(scratch) == 2  # the same two recorded trainings serve both modes
    m = TabularObjective(obj.table, noise="mean")
    assert m.evaluate(cfg, 3, 0).val_error == pytest.approx(m.evaluate(cfg, 3, 0, mode="continue").val_error)


def test_noise_sampling_is_reproducible_and_batch_matches_single(obj):
    cfgs = obj.configs[:50]
    seeds = list(range(100, 150))
    one = [obj.evaluate(c, 9, s) for c, s in zip(cfgs, seeds)]
    assert [r.val_error for r in one] == [obj.evaluate(c, 9, s).val_error for c, s in zip(cfgs, seeds)]
    batch = obj.evaluate_batch(cfgs, 9, seeds)
    assert [r.val_error for r in batch] == [r.val_error for r in one]
    assert [r.cost_seconds for r in batch] == pytest.approx([r.cost_seconds for r in one])
    # different seeds reach both recorded seeds
    assert len({obj.evaluate(cfgs[0], 9, s).val_error for s in range(40)}) == 2
    # the scalar and vectorized hashes agree (including negative and huge seeds)
    for parts in [(0, 1, 2), (-1, 2**63 + 5, 27), (12345, 0xFFFFFFFFFFFFFFFF, 1)]:
        assert int(mix64(*parts)[0]) == mix64_int(*parts)
    z = standard_normal(mix64(np.arange(20000), 7, 9))
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05


def test_vectorized_lookup(obj):
    rows = np.arange(len(obj.configs))
    out = obj.lookup(rows, 9, rows)
    assert out["val_error"].shape == (144,) and (out["cost_epochs"] == 9).all()
    assert out["val_error"][3] == obj.evaluate(obj.configs[3], 9, 3).val_error


def test_refuses_configs_off_the_table_and_budgets_off_the_ladder(obj, tmp_path):
    other = sample_configs(get_space("cnn"), 1, 0)[0]
    with pytest.raises(UsageError, match="not in the table"):
        obj.evaluate(other, 9, 0)
    with pytest.raises(UsageError, match="not in the table"):
        obj.true_value(other)
    with pytest.raises(UsageError, match="ladder"):
        obj.evaluate(obj.configs[0], 2, 0)
    assert obj.evaluate(obj.configs[0], 2, 0, mode="continue").cost_epochs == 2
    with pytest.raises(UsageError):
        obj.evaluate(obj.configs[0], 27, 0)
    with pytest.raises(UsageError):
        TabularObjective(obj.table, noise="median")
    # a grid table that does not cover its grid space is refused, unless asked
    part = make_tiny_table(tmp_path / "part.sqlite", "cnn-grid", 12, SEEDS, LADDER)
    with pytest.raises(UsageError, match="covers 12 of the 144"):
        TabularObjective(part)
    assert len(TabularObjective(part, allow_partial=True).configs) == 12


def test_diverged_and_failed_runs(obj, grid_path, tmp_path):
    div = next(c for c in obj.configs if config_id(c) == grid_path[1])
    late = obj.evaluate(div, 9, 0)
    assert late.status == "diverged" and late.val_error == pytest.approx(0.9)
    assert obj.evaluate(div, 1, 0).status == "ok"
    assert obj.evaluate(div, 1, 0, mode="continue").status == "ok"  # diverged at epoch 2 of 9
    assert obj.evaluate(div, 3, 0, mode="continue").status == "diverged"
    # a failed run: chance-level error, status failed
    path = make_tiny_table(tmp_path / "f.sqlite", "cnn", 3, SEEDS, LADDER)
    cfg = sample_configs(get_space("cnn"), 20, 99)[-1]
    w = TableWriter.open(path, {})
    for s in SEEDS:
        for b in LADDER:
            w.write(
                TrialResult(
                    config=cfg,
                    config_id=config_id(cfg),
                    seed=s,
                    schedule_epochs=b,
                    status="failed",
                    reason="RuntimeError: out of memory",
                )
            )
    w.close()
    o = TabularObjective(path)
    assert not o.is_grid and len(o.configs) == 4
    for mode in ("scratch", "continue"):
        r = o.evaluate(cfg, 9, 0, mode=mode)
        assert (
            r.status == "failed" and r.val_error == pytest.approx(0.9) and r.metrics["test_error"] == pytest.approx(0.9)
        )
    assert TabularObjective(path, noise="mean").evaluate(cfg, 3, 0).status == "failed"
    assert o.true_value(cfg)[0] == pytest.approx(0.9)


def test_curve_on_request(obj):
    cfg = _cfg(obj, "cosine")
    r = obj.evaluate(cfg, 3, 0, curve=True)
    assert r.curve["epoch"] == [1, 2, 3] and r.curve["val_error"][-1] == pytest.approx(r.val_error)
    assert r.curve["cum_seconds"][-1] == pytest.approx(r.cost_seconds)
    assert np.all(np.diff(r.curve["cum_seconds"]) >= 0)


def test_manifest_identifies_the_data(obj):
    m = obj.manifest()
    assert m["kind"] == "tabular" and len(m["data_sha256"]) == 64 and m["n_configs"] == 144


def test_result_interface_kept():
    r = Result(0.1, 2.0, 3)
    assert r.loss == 0.1 and r.status == "ok"


@pytest.mark.slow
def test_real_objective_trains_and_appends_to_the_table(tmp_path):
    db = tmp_path / "real.sqlite"
    o = RealObjective("digits", "cnn", db, budgets=(1, 2))
    cfg = {
        "architecture": "vgg",
        "vgg_convs": 1,
        "width": 4,
        "kernel_size": 3,
        "activation": "relu",
        "dropout": 0.0,
        "batch_norm": True,
        "optimizer": "adam",
        "learning_rate": 0.01,
        "weight_decay": 1e-4,
        "batch_size": 128,
        "lr_schedule": "constant",
        "augmentation": "none",
        "label_smoothing": 0.0,
    }
    assert math.isnan(o.true_value(cfg)[0])
    r = o.evaluate(cfg, 2, 0, curve=True)
    assert r.status == "ok" and 0 <= r.val_error <= 1 and r.cost_seconds > 0 and r.cost_epochs == 2
    assert r.cost_seconds == pytest.approx(r.curve["cum_seconds"][-1])
    o.close()
    t = load_table(db)
    assert t.meta["dataset"] == "digits" and t.meta["space_name"] == "cnn" and list(t.budgets) == [1, 2]
    assert [(x["config_id"], x["schedule_epochs"]) for x in t.runs] == [(config_id(cfg), 2)]
    assert o.true_value(cfg)[0] == pytest.approx(r.val_error)
    assert o.optimum["val_error"] == pytest.approx(r.val_error) and o.full_budget_cost() == pytest.approx(
        r.cost_seconds
    )
    with pytest.raises(UsageError):
        o.evaluate({**cfg, "width": 1000}, 1, 0)


def test_deterministic_says_whether_a_seed_changes_an_evaluation(obj, grid_path):
    """A table read per seed is noisy; read at its mean it is deterministic (what
    ``for_objective`` tells SMAC). Checked against the values, not only the flag."""
    mean = TabularObjective(grid_path[0], noise="mean")
    assert not obj.deterministic and mean.deterministic
    cfg = _cfg(obj, "cosine")
    assert len({mean.evaluate(cfg, 9, s).val_error for s in range(6)}) == 1
    assert len({obj.evaluate(cfg, 9, s).val_error for s in range(6)}) > 1
