"""Surrogates fitted in the test on tiny synthetic tables (small models, one thread)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from support import make_tiny_table

from mfbench.cli import main
from mfbench.core.errors import UsageError
from mfbench.objectives.surrogate import SurrogateObjective
from mfbench.objectives.tabular import TabularObjective
from mfbench.surrogates import fit_surrogate, load_surrogate, read_manifest, training_data
from mfbench.surrogates.fast import MIN_ROWS_PER_THREAD, BitvectorTrees, PackedTrees, bitvector_packable
from mfbench.surrogates.model import limit_threads, make_model
from mfbench.surrogates.store import library_versions, sha256_file
from mfbench.tables.table import load_table
from mfbench.training.space import get_space, sample_configs

LADDER = (1, 3, 9)
FIT = dict(
    families=("extra_trees", "hist_gbm", "knn"),
    folds=3,
    n_estimators=8,
    n_reference=200,
    threads=1,
    allow_below_gate=True,  # a tiny table's surrogate misses the gates (tests/test_gates.py checks the refusal)
)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return make_tiny_table(tmp_path_factory.mktemp("t") / "cnn.sqlite", "cnn", 40, (0, 1), LADDER)


@pytest.fixture(scope="module")
def saved(table, tmp_path_factory):
    out = tmp_path_factory.mktemp("s") / "surr"
    fit_surrogate(table, out, **FIT)
    return out


@pytest.fixture(scope="module")
def sobj(saved):
    return SurrogateObjective(saved, threads=1)


def test_training_rows_cover_scratch_and_continue_points(table):
    d = training_data(load_table(table))
    assert len(d.epoch) == 40 * (1 + 2 + 3)
    assert set(zip(d.epoch.tolist(), d.schedule.tolist())) == {(1, 1), (1, 3), (3, 3), (1, 9), (3, 9), (9, 9)}
    assert np.all(d.y["val_std"] >= 0) and np.all(np.isfinite(d.seconds_per_epoch))


def test_fit_writes_models_manifest_and_quality(saved, table):
    m = read_manifest(saved)
    assert set(m["models"]) == {"val_error", "test_error", "val_std", "log_seconds_per_epoch"}
    for entry in m["models"].values():
        assert entry["family"] in FIT["families"]
        assert sha256_file(saved / entry["file"]) == entry["sha256"]
    assert m["table"]["data_sha256"] == training_data(load_table(table)).digest
    assert m["versions"] == library_versions()
    assert m["reference"]["optimum"]["val_error"] <= m["reference"]["table_best_val_error"] + 0.5
    q = json.loads((saved / "quality.json").read_text())
    labels = [r["slice"] for r in q["targets"]["val_error"]["slices"]]
    for b in LADDER:
        assert f"b={b} all" in labels and any(lab.startswith(f"b={b} ") and "resnet" in lab for lab in labels)
    assert "pooled scratch" in labels and "pooled continue" in labels
    row = q["targets"]["val_error"]["slices"][0]
    assert {"n", "r2", "spearman", "kendall", "regret", "seed_spearman"} <= set(row)
    assert set(q["targets"]["val_error"]["families"]) == set(FIT["families"])
    assert "| slice | n | R² | Spearman | Kendall τ | regret | 1-seed Spearman |" in (saved / "quality.md").read_text()
    # predictions stay within the seed means the table observed
    d = training_data(load_table(table))
    assert m["target_range"]["val_error"] == [float(d.y["val_error"].min()), float(d.y["val_error"].max())]
    assert not list(saved.parent.glob(".surr.*"))  # no temporary folder left


def test_seed_spearman_is_the_noise_ceiling():
    from mfbench.surrogates.quality import seed_spearman

    rng = np.random.default_rng(0)
    truth = rng.random(200)
    assert seed_spearman(np.stack([truth, truth, truth], axis=1)) == pytest.approx(1.0)
    assert abs(seed_spearman(rng.random((200, 3)))) < 0.2  # seeds that share nothing
    noisy = truth[:, None] + rng.normal(0, 0.3, (200, 3))
    assert 0.3 < seed_spearman(noisy) < 0.9
    noisy[0, 1] = np.nan  # a row without every seed is left out, not an error
    assert np.isfinite(seed_spearman(noisy)) and np.isnan(seed_spearman(truth[:, None]))


def test_predictions_are_clipped_to_the_observed_range(saved):
    surr = load_surrogate(saved, threads=1)
    surr._range["val_error"] = (0.25, 0.5)
    X = surr.encoder.rows(surr.encoder.encode_configs(sample_configs(get_space("cnn"), 50, 1)), 9, 9)
    for P in (surr.predict_rows(X), surr.predict_few(X[:2])):
        assert P["val_error"].min() >= 0.25 and P["val_error"].max() <= 0.5


def test_packed_trees_match_scikit_learn():
    rng = np.random.default_rng(0)
    X = rng.random((300, 6))
    y = X[:, 0] * 2 + np.sin(4 * X[:, 1]) + rng.normal(0, 0.1, 300)
    with limit_threads(1):
        models = {f: make_model(f, 0, 7, threads=1).fit(X, y) for f in ("extra_trees", "random_forest", "hist_gbm")}
    packed = PackedTrees(models)
    Q = np.vstack([rng.random((20, 6)), X[:5]])
    P = packed.predict_rows(Q)
    for k, name in enumerate(packed.names):
        np.testing.assert_allclose(P[:, k], models[name].predict(Q), rtol=1e-10, atol=1e-12)
    # boosting: scikit-learn's bits (a running sum from the baseline), so results never depend on numba
    np.testing.assert_array_equal(P[:, packed.names.index("hist_gbm")], models["hist_gbm"].predict(Q))


def test_packed_trees_give_the_compiled_kernels_bits():
    """Without numba (the ``fast`` extra) a surrogate answers through ``PackedTrees``: the same
    bits as the compiled kernel, so a light install replays exactly the same study."""
    from sklearn.ensemble import ExtraTreesRegressor

    rng = np.random.default_rng(3)
    X = rng.random((300, 5))
    y = X[:, 0] * 2 + np.sin(4 * X[:, 1]) + (X[:, 2] > 0.5) + rng.normal(0, 0.1, 300)
    with limit_threads(1):
        models = {f: make_model(f, 0, 20, threads=1).fit(X, y) for f in ("hist_gbm", "hist_gbm_small")}
        models["small_forest"] = ExtraTreesRegressor(10, max_leaf_nodes=40, random_state=0).fit(X, y)
    Q = np.vstack([rng.random((40, 5)), X[:5] * 1.5 - 0.2])
    np.testing.assert_array_equal(PackedTrees(models).predict_rows(Q), BitvectorTrees(models).predict(Q, threads=1))


def test_bitvector_trees_match_scikit_learn_on_one_row_and_split_batches():
    """The compiled QuickScorer walk must give scikit-learn's predictions: boosting bit for bit
    (same summation order), forests of at most 64 leaves (float32 comparisons) to rounding;
    a batch split over threads must equal the same batch in one part."""
    from sklearn.ensemble import ExtraTreesRegressor

    rng = np.random.default_rng(1)
    X = rng.random((400, 5))
    y = X[:, 0] * 2 + np.sin(4 * X[:, 1]) + (X[:, 2] > 0.5) + rng.normal(0, 0.1, 400)
    with limit_threads(1):
        models = {f: make_model(f, 0, 20, threads=1).fit(X, y) for f in ("hist_gbm", "hist_gbm_small")}
        models["small_forest"] = ExtraTreesRegressor(10, max_leaf_nodes=40, random_state=0).fit(X, y)
        deep = make_model("random_forest", 0, 5, threads=1).fit(X, y)
    assert all(bitvector_packable(m) for m in models.values())
    assert not bitvector_packable(deep)  # full-depth trees: hundreds of leaves
    bits = BitvectorTrees(models)
    Q = np.vstack([rng.random((2 * MIN_ROWS_PER_THREAD + 7, 5)), X[:5], X[:, :] * 1.5 - 0.2])
    one, split = bits.predict(Q, threads=1), bits.predict(Q, threads=2)
    np.testing.assert_array_equal(one, split)
    np.testing.assert_array_equal(bits.predict(Q[3:4], threads=1), one[3:4])
    for k, name in enumerate(bits.names):
        ref = models[name].predict(Q)
        if name.startswith("hist"):
            np.testing.assert_array_equal(one[:, k], ref)
        else:
            np.testing.assert_allclose(one[:, k], ref, rtol=1e-12, atol=1e-12)
    Q[0, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        bits.predict(Q)


def test_single_and_batch_paths_agree_and_noise_is_reproducible(sobj):
    cfgs = sample_configs(get_space("cnn"), 30, 7)
    seeds = list(range(30))
    for b, mode in ((9, "scratch"), (3, "continue"), (2, "scratch")):
        one = [sobj.evaluate(c, b, s, mode=mode) for c, s in zip(cfgs, seeds)]
        again = [sobj.evaluate(c, b, s, mode=mode) for c, s in zip(cfgs, seeds)]  # cached means, same draws
        assert [r.val_error for r in one] == [r.val_error for r in again]
        batch = sobj.evaluate_batch(cfgs, b, seeds, mode=mode)
        np.testing.assert_allclose([r.val_error for r in batch], [r.val_error for r in one], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose([r.cost_seconds for r in batch], [r.cost_seconds for r in one], rtol=1e-9)
    fresh = SurrogateObjective(sobj.surrogate)
    assert fresh.evaluate(cfgs[0], 9, 3).val_error == sobj.evaluate(cfgs[0], 9, 3).val_error
    draws = {sobj.evaluate(cfgs[0], 9, s).val_error for s in range(20)}
    assert len(draws) > 10  # the noise model's spread is not zero on this table
    mean = SurrogateObjective(sobj.surrogate, noise="mean")
    assert len({mean.evaluate(cfgs[0], 9, s).val_error for s in range(5)}) == 1
    assert mean.evaluate(cfgs[0], 9, 0).val_error == pytest.approx(sobj.true_value(cfgs[0])[0])


def test_interpolation_between_ladder_budgets(sobj):
    cfg = sample_configs(get_space("cnn"), 1, 3)[0]
    mean = SurrogateObjective(sobj.surrogate, noise="mean")
    v1, v2, v3 = (mean.evaluate(cfg, b, 0).val_error for b in (1, 2, 3))
    w = np.log(2) / np.log(3)
    assert v2 == pytest.approx((1 - w) * v1 + w * v3)


def test_cost_model_is_monotone_in_epochs(sobj):
    for cfg in sample_configs(get_space("cnn"), 8, 11):
        costs = [sobj.evaluate(cfg, b, 0).cost_seconds for b in range(1, 10)]
        assert costs[0] > 0 and np.all(np.diff(costs) >= 0)
        cont = sobj.evaluate(cfg, 9, 0, mode="continue", resume_from=3)
        assert cont.cost_epochs == 6 and 0 < cont.cost_seconds <= sobj.evaluate(cfg, 9, 0).cost_seconds
        curve = sobj.evaluate(cfg, 9, 0, curve=True).curve
        assert np.all(np.diff(curve["cum_seconds"]) >= 0)


def test_reference_values_and_interface(sobj):
    assert sobj.space.name == "cnn" and sobj.budgets == list(LADDER)
    assert sobj.bounds["best"] <= sobj.bounds["worst"]
    assert sobj.optimum["val_error"] == pytest.approx(sobj.true_value(sobj.optimum_config)[0])
    assert sobj.full_budget_cost() > 0
    with pytest.raises(UsageError, match="unknown hyperparameters"):
        sobj.evaluate({"bogus": 1}, 9, 0)
    with pytest.raises(UsageError, match="within"):
        sobj.evaluate({**sobj.optimum_config, "learning_rate": 5.0}, 9, 0)


def test_tampered_model_file_is_refused(saved, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    f = copy / read_manifest(copy)["models"]["val_error"]["file"]
    f.write_bytes(f.read_bytes() + b"\0")
    with pytest.raises(UsageError, match="does not match the manifest"):
        load_surrogate(copy)


def test_other_library_versions_trigger_a_refit(saved, tmp_path, monkeypatch, caplog):
    import shutil

    monkeypatch.setenv("MFBENCH_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "old"
    shutil.copytree(saved, copy)
    m = json.loads((copy / "manifest.json").read_text())
    m["versions"]["scikit-learn"] = "0.24.2"
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(UsageError, match="refit it"):
        load_surrogate(copy, refit=False)
    with caplog.at_level(logging.WARNING):
        s = load_surrogate(copy, threads=1)
    assert "refitting" in caplog.text
    assert s.manifest["refit"]["from_versions"]["scikit-learn"] == "0.24.2"
    assert s.manifest["versions"] == library_versions()
    cached = list((tmp_path / "cache" / "surrogates").iterdir())
    assert len(cached) == 1 and (cached[0] / "manifest.json").exists()
    # same table, same seeds: the refit predicts what the original did
    orig = load_surrogate(saved)
    X = orig.encoder.rows(orig.encoder.encode_configs(sample_configs(get_space("cnn"), 10, 1)), 9, 9)
    np.testing.assert_allclose(s.predict_rows(X)["val_error"], orig.predict_rows(X)["val_error"])
    # a second load reuses the cached refit
    caplog.clear()
    load_surrogate(copy)
    assert load_surrogate(copy).manifest["refit"]["data_sha256"] == m["table"]["data_sha256"]
    # without its table (and without a cached refit) there is nothing to refit from
    shutil.rmtree(tmp_path / "cache")
    m["table"].update(path="/nonexistent/t.sqlite", relative_path=None, file="gone.sqlite")
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(UsageError, match="not found"):
        load_surrogate(copy)


def test_fit_and_validate_cli(table, tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(
        [
            "fit",
            str(table),
            "--out",
            str(out),
            "--families",
            "extra_trees,knn",
            "--folds",
            "3",
            "--n-estimators",
            "5",
            "--reference-samples",
            "50",
            "--threads",
            "1",
            "--allow-below-gate",
        ]
    )
    assert rc == 0 and {p.name for p in out.iterdir()} >= {
        "manifest.json",
        "quality.json",
        "quality.md",
        "val_error.skops",
        "log_seconds_per_epoch.skops",
    }
    assert "pooled scratch" in capsys.readouterr().out
    grid = make_tiny_table(tmp_path / "grid.sqlite", "cnn-grid", 30, (0, 1), LADDER)
    rc = main(["validate", "--surrogate", str(out), "--table", str(grid), "--out", str(tmp_path / "v.json")])
    assert rc == 0
    v = json.loads((tmp_path / "v.json").read_text())
    assert [r["budget"] for r in v["per_budget"]] == list(LADDER)
    assert all(r["n"] == 30 and r["top_k"] == 10 and 0 <= r["top10_overlap"] <= 10 for r in v["per_budget"])
    assert all(-1 <= r["seed_spearman"] <= 1 for r in v["per_budget"])  # two seeds: the ceiling is defined
    assert main(["fit", str(tmp_path / "v.json"), "--out", str(tmp_path / "x")]) == 2
    assert main(["fit", str(table), "--out", str(tmp_path / "x"), "--families", "svm"]) == 2
    assert main(["validate", "--surrogate", str(tmp_path), "--table", str(grid)]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_tabular_and_surrogate_share_the_interface(table, sobj):
    tab = TabularObjective(table, noise="mean")
    cfg = tab.configs[0]
    for o in (tab, sobj):
        r = o.evaluate(cfg, 3, 0)
        assert 0 <= r.val_error <= 1 and r.cost_epochs == 3 and "test_error" in r.metrics
        assert o.max_budget == 9 and o.supports_continuation


def test_single_config_encoding_and_hash_equal_the_batched_ones():
    """The single-query fast paths must give the batched path's bits: the noise draw is a
    hash of the encoded row, so one differing bit would change a sampled value."""
    from mfbench.core.seeds import row_hash, row_hash_one
    from mfbench.surrogates.encoding import Encoder
    from mfbench.training.space import get_space, iter_grid, sample_configs

    enc = Encoder(get_space("cnn"), [1, 3, 9, 27])
    configs = sample_configs(get_space("cnn"), 400, seed=4, design="random") + list(iter_grid(get_space("cnn-grid")))
    c0 = configs[0]
    configs += [
        {**c0, "learning_rate": 1.0 + 1e-12},  # within the encoder's slack: clipped
        {**c0, "kernel_size": 3.0},  # a float equal to an int choice
        {**c0, "learning_rate": 1},  # an int for a float
    ]
    batched = enc.encode_configs(configs)
    for i, c in enumerate(configs):
        one = enc.encode_one(c)
        assert np.array_equal(one, batched[i : i + 1]), c
        assert row_hash_one(one) == int(row_hash(batched[i : i + 1])[0])
    for bad in (
        {**c0, "learning_rate": 2.0},
        {**c0, "activation": "swish"},
        {**c0, "nope": 1},
        {**c0, "learning_rate": "x"},
        {**c0, "batch_norm": 1},
        {**c0, "activation": ["relu"]},
    ):
        with pytest.raises(UsageError) as one_err:
            enc.encode_one(bad)
        with pytest.raises(UsageError) as batch_err:
            enc.encode_configs([bad])
        assert str(one_err.value) == str(batch_err.value)


def test_configs_given_as_columns_encode_and_predict_as_dicts(sobj):
    """A DataFrame (NaN or None where inactive, bool columns of objects) and a dict of numpy
    columns give the dict path's rows bit for bit, hence the same noise draws; bad columns are
    refused with the dict path's kind of message."""
    import pandas as pd

    enc = sobj.encoder
    configs = sample_configs(get_space("cnn"), 300, seed=5, design="random")
    df = pd.DataFrame(configs)
    assert df.isna().any().any()  # conditional hyperparameters are inactive in some rows
    ref = enc.encode_configs(configs)
    np.testing.assert_array_equal(enc.encode_configs(df), ref)
    cols = {
        k: np.array(df[k].tolist())
        if df[k].notna().all()
        else df[k].to_numpy(float)
        if df[k].dtype.kind == "f"
        else df[k].to_numpy()
        for k in df.columns
    }
    assert {v.dtype.kind for v in cols.values()} >= {"U", "b", "f"}
    np.testing.assert_array_equal(enc.encode_configs(cols), ref)
    a = sobj.predict_arrays(df, 9, np.arange(len(df)))
    b = sobj.predict_arrays(configs, 9, np.arange(len(df)))
    for k in ("val_error", "test_error", "cost_seconds"):
        np.testing.assert_array_equal(a[k], b[k])
    name = next(k for k, v in cols.items() if v.dtype.kind == "U")
    for bad, msg in (
        ({**cols, name: np.full(len(df), "nope")}, "is not one of"),
        ({**cols, "learning_rate": np.full(len(df), 2.0)}, "must be within"),
        ({**cols, "nope": cols[name]}, "unknown hyperparameters"),
        ({**cols, name: cols[name][:3]}, "all as long"),
    ):
        with pytest.raises(UsageError, match=msg):
            enc.encode_configs(bad)


def test_surrogate_served_on_a_grid_and_the_ranking_agreement(saved, tmp_path):
    """SURROGATE@TABLE is the surrogate's twin of a tabular benchmark: the table's space and
    configurations, optimum and bounds over them; replaying optimizers on both compares ranks."""
    from mfbench.objectives.registry import load_benchmark
    from mfbench.studies.validate import ranking_agreement

    grid = make_tiny_table(tmp_path / "grid.sqlite", "cnn-grid", None, (0, 1), LADDER)
    twin = load_benchmark(f"{saved}@{grid}", threads=1)
    tab = TabularObjective(grid)
    assert twin.space.name == "cnn-grid" and twin.budgets == tab.budgets and twin.kind == "surrogate"
    vals = [twin.true_value(c)[0] for c in tab.configs]
    assert twin.optimum["val_error"] == pytest.approx(min(vals), abs=1e-9)
    assert twin.bounds["worst"] == pytest.approx(max(vals), abs=1e-9)
    assert twin.manifest()["restricted_to"] == str(tab.path)
    short = make_tiny_table(tmp_path / "short.sqlite", "cnn-grid", None, (0,), (1, 3))
    with pytest.raises(UsageError, match="ladder"):
        load_benchmark(f"{saved}@{short}")

    res = ranking_agreement(
        saved, grid, ["random", "grid", "hyperband"], [0, 1], "4x", tmp_path / "runs", jobs=1, progress=False
    )
    assert res["n_failed"] == 0 and res["seeds"] == [0, 1] and "@" in res["surrogate"]
    assert {r["optimizer"] for r in res["rows"]} == {"random", "grid", "hyperband"}
    for col in ("table_rank", "surrogate_rank"):  # ranks within each seed: 1 + 2 + 3
        assert sum(r[col] for r in res["rows"]) == pytest.approx(6.0)
    assert all(r["table_regret"] >= 0 and r["surrogate_regret"] >= 0 for r in res["rows"])
    assert -1.0 <= res["spearman"] <= 1.0 and 0 <= res["top3_overlap"] <= 3
    # the noise ceiling: the table alone on as many other seeds, ranked the same way
    assert res["ceiling"]["seeds"] == [2, 3]
    assert sum(r["table_rank_other_seeds"] for r in res["rows"]) == pytest.approx(6.0)
    assert -1.0 <= res["ceiling"]["spearman"] <= 1.0 and 0 <= res["ceiling"]["top3_overlap"] <= 3
    # a second surrogate validated into the same folder shares the table's runs and is compared
    # on its own runs only (the same models under another name: the same figures)
    import shutil

    other = tmp_path / "other"
    shutil.copytree(saved, other)
    m = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps(dict(m, name="other")))
    again = ranking_agreement(
        other, grid, ["random", "grid", "hyperband"], [0, 1], "4x", tmp_path / "runs", jobs=1, progress=False
    )
    assert again["surrogate"] != res["surrogate"] and again["surrogate"].startswith("other@")
    assert again["rows"] == res["rows"] and again["ceiling"] == res["ceiling"]
