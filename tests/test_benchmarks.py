"""The public loader, against a data root built in the test (MFBENCH_DATA)."""

from __future__ import annotations

import pytest
from support import make_tiny_table

import mfbench
from mfbench.core.errors import UsageError
from mfbench.objectives.real import RealObjective
from mfbench.objectives.registry import SHIPPED, clear_cache, list_benchmarks, load_benchmark
from mfbench.objectives.surrogate import SurrogateObjective
from mfbench.objectives.tabular import TabularObjective
from mfbench.surrogates import fit_surrogate

LADDER = (1, 3, 9)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_tiny_table(root / "tabular" / "digits-grid.sqlite", "cnn-grid", None, (0, 1), LADDER)
    make_tiny_table(root / "tabular" / "digits-cnn.sqlite", "cnn", 30, (0, 1), LADDER)
    fit_surrogate(
        root / "tabular" / "digits-cnn.sqlite",
        root / "surrogates" / "digits-cnn",
        families=("extra_trees",),
        folds=2,
        n_estimators=4,
        n_reference=50,
        threads=1,
        allow_below_gate=True,
    )
    return root


@pytest.fixture(autouse=True)
def env(root, monkeypatch, tmp_path):
    monkeypatch.setenv("MFBENCH_DATA", str(root))
    monkeypatch.setenv("MFBENCH_CACHE", str(tmp_path / "cache"))
    clear_cache()
    yield
    clear_cache()


def test_shipped_names_round_trip(root):
    grid = load_benchmark("digits-grid")
    assert isinstance(grid, TabularObjective) and grid.space.name == "cnn-grid" and grid.budgets == list(LADDER)
    assert grid.bounds["best"] == grid.optimum["val_error"] <= grid.bounds["worst"]
    assert load_benchmark("digits-grid", kind="tabular") is load_benchmark("digits-grid", kind="tabular")
    by_path = load_benchmark(root / "tabular" / "digits-grid.sqlite", noise="mean")
    cfg = grid.configs[10]
    assert by_path.evaluate(cfg, 9, 0).val_error == pytest.approx(grid.true_value(cfg)[0])
    assert mfbench.load_benchmark is load_benchmark

    sobol = load_benchmark("digits-cnn", kind="tabular")
    assert not sobol.is_grid and len(sobol.configs) == 30 and sobol.space.name == "cnn"
    sur = load_benchmark("digits-cnn-surrogate")
    assert isinstance(sur, SurrogateObjective) and sur.budgets == list(LADDER)
    assert load_benchmark("digits-cnn", kind="surrogate").surrogate.manifest == sur.surrogate.manifest
    assert load_benchmark(root / "surrogates" / "digits-cnn").optimum == sur.optimum
    r = sur.evaluate(sobol.configs[0], 9, 1)  # the surrogate answers for the table's configs ...
    assert 0 <= r.val_error <= 1
    assert 0 <= sur.evaluate(sur.optimum_config, 3, 1).val_error <= 1  # ... and for any other


def test_real_kind_needs_no_table_and_writes_elsewhere(root, tmp_path):
    real = load_benchmark("digits-grid", kind="real")
    assert isinstance(real, RealObjective) and real.dataset == "digits" and real.space.name == "cnn-grid"
    assert str(real.db).startswith(str(tmp_path / "cache"))
    real2 = load_benchmark("digits-grid", kind="real", db=tmp_path / "r.sqlite", device="cpu")
    assert real2.db == tmp_path / "r.sqlite" and real2 is not real
    assert load_benchmark("digits-cnn", kind="real").space.name == "cnn"
    from_table = load_benchmark(root / "tabular" / "digits-grid.sqlite", kind="real")
    assert from_table.dataset == "synthetic" and from_table.space.name == "cnn-grid" and from_table.budgets == [1, 3, 9]


def test_bad_names_and_kinds(root, monkeypatch, tmp_path):
    with pytest.raises(UsageError, match="known: digits-grid, digits-cnn"):
        load_benchmark("cifar-grid")
    with pytest.raises(UsageError, match="kind must be"):
        load_benchmark("digits-grid", kind="oracle")
    with pytest.raises(UsageError, match="no surrogate"):
        load_benchmark("digits-grid", kind="surrogate")
    with pytest.raises(UsageError, match="is a table"):
        load_benchmark(root / "tabular" / "digits-grid.sqlite", kind="surrogate")
    monkeypatch.setenv("MFBENCH_DATA", str(tmp_path))
    with pytest.raises(UsageError, match="not found"):
        load_benchmark("digits-grid")
    names = {b["name"]: b for b in list_benchmarks()}
    assert set(names) == set(SHIPPED) and not names["digits-grid"]["kinds"]["tabular"]["present"]
