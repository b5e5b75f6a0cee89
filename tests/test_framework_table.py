"""The framework table, class metrics from recorded confusion matrices, and the confusion figure,
against a hand-computed tiny replay on a tiny table."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import make_tiny_table

from mfbench.analysis.report import load_study, write_report
from mfbench.objectives.tabular import TabularObjective
from mfbench.optimizers.registry import framework_of
from mfbench.training.classmetrics import macro_prf

# seed 0: class 0 has 8 right and 2 predicted as class 1; every other class 10 right
CM0 = np.eye(10, dtype=int) * 10
CM0[0, 0], CM0[0, 1] = 8, 2
CM1 = np.eye(10, dtype=int) * 10  # seed 1: perfect
# by hand: seed 0 recall = (0.8 + 9) / 10 = 0.98, precision = (9 + 10/12) / 10 = 0.983333,
# F1 = (2*0.8/1.8 + 2*(10/12)/(22/12) + 8) / 10 = (0.888889 + 0.909091 + 8) / 10 = 0.979798; seed 1: all 1
P0, R0, F0 = 0.9833333333, 0.98, 0.9797979798


def _table(tmp_path: Path) -> tuple[Path, str, str]:
    path = make_tiny_table(tmp_path / "tiny.sqlite", n_configs=4, seeds=(0, 1), budgets=(1, 3, 9))
    con = sqlite3.connect(path)
    ids = [r[0] for r in con.execute("SELECT config_id FROM configs ORDER BY config_id")]
    good, other = ids[0], ids[1]
    for seed, cm in ((0, CM0), (1, CM1)):
        con.execute(
            "UPDATE runs SET test_confusion = ? WHERE config_id = ? AND seed = ? AND schedule_epochs = 9",
            (json.dumps(cm.tolist()), good, seed),
        )
    con.commit()
    con.close()
    return path, good, other


def test_macro_prf_by_hand():
    p, r, f = macro_prf(np.stack([CM0, CM1]))
    assert p.tolist() == pytest.approx([P0, 1.0]) and r.tolist() == pytest.approx([R0, 1.0])
    assert f.tolist() == pytest.approx([F0, 1.0])
    assert np.isnan(macro_prf(np.full((3, 3), np.nan))[0])


def test_tabular_result_carries_precision_recall_of_the_run_it_read(tmp_path):
    path, good, other = _table(tmp_path)
    obj = TabularObjective(path, allow_partial=True)
    cfg = obj.configs[obj.config_ids.index(good)]
    want = {0: (P0, R0), 1: (1.0, 1.0)}
    for seed in range(6):
        res = obj.evaluate(cfg, 9, seed)
        assert (res.metrics["test_precision"], res.metrics["test_recall"]) == pytest.approx(want[res.training_seed])
        (batch,) = obj.evaluate_batch([cfg], 9, [seed])
        assert batch.metrics["test_precision"] == pytest.approx(res.metrics["test_precision"])
    assert "test_precision" not in obj.evaluate(cfg, 3, 0).metrics  # matrices exist only for the last epoch
    cm = obj.class_metrics(cfg)
    assert cm["test_precision"] == pytest.approx((P0 + 1) / 2) and cm["test_recall"] == pytest.approx((R0 + 1) / 2)
    assert cm["epoch"] == 9 and cm["test_confusion"][0][:2] == [18, 2]
    assert obj.class_metrics(obj.configs[obj.config_ids.index(other)]) is None


def _rows(bench, opt, seed, steps, total):
    """steps: (sim_time, incumbent config, incumbent val error, incumbent test error, epochs, overhead, repeat)."""
    out = []
    for i, (t, cid, v, te, ep, ov, rep) in enumerate(steps):
        out.append(
            {
                "benchmark": bench,
                "optimizer": opt,
                "seed": seed,
                "eval_index": i,
                "worker": 0,
                "sim_time": t,
                "budget_fraction": t / total,
                "epochs_used": ep,
                "budget": 9,
                "mode": "scratch",
                "config_id": cid,
                "val_error": v,
                "test_error": te,
                "cost_seconds": 1.0,
                "cost_epochs": 9,
                "status": "ok",
                "overhead_seconds": ov,
                "incumbent_config_id": cid,
                "incumbent_val_error": v,
                "incumbent_test_error": te,
                "regret": v - 0.05,
                "normalized_regret": (v - 0.05) / 0.85,
                "test_regret": te - 0.06,
                "lineage": i,
                "training_seed": 0,
                "repeat": rep,
            }
        )
    return pd.DataFrame(out)


def test_framework_table_of_a_hand_computed_replay(tmp_path):
    from mfbench.analysis.framework_table import framework_table, run_finals
    from mfbench.surrogates.data import table_digest
    from mfbench.tables.table import load_table

    path, good, other = _table(tmp_path)
    run = tmp_path / "replay"
    (run / "runs").mkdir(parents=True)
    total = 100.0
    runs = {
        # tpe (Optuna): within 1 pt of the best (0.05) at t=20, within 0.5 pt at t=30 (seed 0), at t=40 (seed 1)
        ("tpe", 0): [
            (10, other, 0.20, 0.21, 9, 0.002, False),
            (20, other, 0.056, 0.06, 18, 0.004, False),
            (30, good, 0.05, 0.04, 27, 0.006, True),
        ],
        ("tpe", 1): [(20, other, 0.058, 0.07, 9, 0.002, False), (40, good, 0.052, 0.02, 18, 0.002, False)],
        # random (mfbench): never within 1 pt on seed 0; within 1 pt (not 0.5) at t=50 on seed 1
        ("random", 0): [(50, other, 0.30, 0.31, 9, 0.001, False)],
        ("random", 1): [(50, other, 0.059, 0.06, 9, 0.001, False), (60, other, 0.059, 0.06, 18, 0.001, True)],
    }
    for (o, s), steps in runs.items():
        _rows("tiny", o, s, steps, total).to_parquet(run / "runs" / f"tiny__{o}__{s}.parquet")
    manifest = {
        "seeds": [0, 1],
        "budget": {"spec": "x", "seconds": {"tiny": total}},
        "benchmarks": {
            "tiny": {
                "kind": "tabular",
                "optimum": {"val_error": 0.05, "test_error": 0.06},
                "bounds": {"best": 0.05, "worst": 0.9},
                "objective": {"path": str(path), "data_sha256": table_digest(load_table(path))},
            }
        },
        "optimizers": {"tpe": {}, "random": {}},
        "runs": [{"benchmark": "tiny", "optimizer": o, "seed": s, "status": "ok"} for o, s in runs],
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    from mfbench.analysis.framework_table import class_metric_source

    src = class_metric_source(manifest, "tiny")
    assert src[0] is not None and src[1] == ""
    finals = run_finals(load_study(run), {"tiny": src}).set_index(["optimizer", "seed"])
    assert finals.loc[("tpe", 0), "framework"] == "Optuna" and finals.loc[("random", 0), "framework"] == "mfbench"
    assert finals.loc[("tpe", 0), "time_to_0.01"] == 20 and finals.loc[("tpe", 0), "time_to_0.005"] == 30
    assert finals.loc[("tpe", 1), "time_to_0.01"] == 20 and finals.loc[("tpe", 1), "time_to_0.005"] == 40
    assert np.isinf(finals.loc[("random", 0), "time_to_0.01"]) and finals.loc[("random", 1), "time_to_0.01"] == 50
    # the incumbent's class metrics are the table's, averaged over its training seeds: (P0 + 1) / 2
    assert finals.loc[("tpe", 0), "test_precision"] == pytest.approx((P0 + 1) / 2)
    assert finals.loc[("tpe", 1), "test_recall"] == pytest.approx((R0 + 1) / 2)
    assert np.isnan(finals.loc[("random", 0), "test_precision"])  # its incumbent has no matrix
    head, rows, note = framework_table(finals.reset_index(), "tiny")
    assert note == ""  # some rows have class metrics: the columns stay
    cells = {r[1]: dict(zip(head, r)) for r in rows}
    assert [r[0] for r in rows] == ["Optuna", "mfbench"]  # frameworks in their fixed order
    tpe = cells["tpe"]
    # test acc: 1 - 0.04 = 96 %, 1 - 0.02 = 98 %: mean 97.00, sd (ddof 1) 1.41
    assert tpe["test acc %"] == "97.00 \u00b1 1.41" and tpe["val acc %"] == "94.90 \u00b1 0.14"
    assert tpe["precision %"] == f"{100 * (P0 + 1) / 2:.2f} \u00b1 0.00"
    assert tpe["recall %"] == f"{100 * (R0 + 1) / 2:.2f} \u00b1 0.00"
    assert tpe["time to \u22641 pt"] == "20 s (100 %)" and tpe["time to \u22640.5 pt"] == "35 s (100 %)"
    assert tpe["evaluations"] == "2.5" and tpe["epochs"] == "22" and tpe["repeats"] == "0.5"
    assert tpe["overhead / eval"] == "3 ms"  # per-run means 0.004 and 0.002 s, averaged over seeds
    rnd = cells["random"]
    assert rnd["time to \u22641 pt"] == "not reached (50 %)" and rnd["precision %"] == "n/a"

    index = write_report(run, budgets=(1.0,))
    text = index.read_text()
    assert ">Frameworks</h2>" in text and "97.00 \u00b1 1.41" in text
    conf = json.loads((index.parent / "data" / "confusion_tiny.json").read_text())
    (panel,) = conf["panels"]  # only Optuna's incumbent has a matrix
    assert panel["optimizer"] == "tpe" and panel["confusion"][0][:2] == [18, 2]
    assert panel["normalized"][0][:2] == pytest.approx([0.9, 0.1]) and conf["epoch"] == 9
    assert (index.parent / "figures" / "confusion_tiny.png").stat().st_size > 5000


def test_surrogate_benchmark_says_not_modelled(tmp_path):
    from mfbench.analysis.framework_table import NA_SURROGATE, class_metric_source

    assert class_metric_source({"benchmarks": {"s": {"kind": "surrogate"}}}, "s") == (None, NA_SURROGATE)
    missing = {"benchmarks": {"t": {"kind": "tabular", "objective": {"path": str(tmp_path / "gone.sqlite")}}}}
    assert class_metric_source(missing, "t")[1] == "n/a: table file not found"
    # a tune run's trainings database: the incumbent's runs at the largest budget
    path, good, other = _table(tmp_path)
    real = {"benchmarks": {"r": {"kind": "real", "objective": {"db": str(path), "budgets": [1, 3, 9]}}}}
    src, why = class_metric_source(real, "r")
    assert why == "" and src.epoch == 9 and src.metrics(other) is None
    m = src.metrics(good)
    assert m["test_precision"] == pytest.approx((P0 + 1) / 2) and m["test_recall"] == pytest.approx((R0 + 1) / 2)
    assert m["test_f1"] == pytest.approx((F0 + 1) / 2) and m["test_confusion"][0][:2] == [18, 2]
    assert (
        framework_of("smac-hb") == "SMAC" and framework_of("ray-asha") == "Ray Tune" and framework_of("ga") == "mfbench"
    )


def test_pooled_table_by_hand():
    """Pooled over benchmarks, each weighing the same whatever its seeds; a benchmark missing an optimizer left out."""
    from mfbench.analysis.framework_table import pooled_table

    inf = np.inf
    runs = [  # (benchmark, optimizer, seed, final normalized regret, fraction to 1 pt, repeats)
        ("A", "tpe", 0, 0.1, 0.5, 1),
        ("A", "tpe", 1, 0.3, inf, 0),
        ("A", "random", 0, 0.2, inf, 0),
        ("A", "random", 1, 0.2, inf, 0),
        ("B", "tpe", 0, 0.0, 0.2, 0),
        ("B", "tpe", 1, 0.0, 0.4, 0),
        ("B", "tpe", 2, 0.0, 0.6, 1),
        ("B", "random", 0, 0.1, inf, 0),
        ("B", "random", 1, 0.1, inf, 0),
        ("B", "random", 2, 0.0, inf, 0),
        ("C", "tpe", 0, 0.9, inf, 0),  # random has no run on C: C cannot be ranked and is left out
    ]
    finals = pd.DataFrame(
        [
            {
                "benchmark": b,
                "optimizer": o,
                "seed": s,
                "framework": framework_of(o),
                "normalized_regret": r,
                "fraction_to_0.01": f,
                "time_to_0.01": f * 100,
                "fraction_to_0.005": inf,
                "time_to_0.005": inf,
                "evaluations": 10,
                "overhead_per_eval_s": 0.002 if o == "tpe" else 0.001,
                "repeats": rep,
            }
            for b, o, s, r, f, rep in runs
        ]
    )
    head, rows = pooled_table(finals)
    cells = {r[1]: dict(zip(head, r)) for r in rows}
    assert [r[0] for r in rows] == ["Optuna", "mfbench"]
    tpe, rnd = cells["tpe"], cells["random"]
    # ranks: A seed 0 tpe 1, seed 1 tpe 2 -> 1.5; B: 1, 1, 1.5 (tie) -> 7/6; pooled (1.5 + 7/6) / 2 = 4/3
    assert tpe["mean rank"] == "1.33" and rnd["mean rank"] == "1.67" and tpe["benchmarks"] == "2"
    # regret: A mean 0.2, B 0.0 -> 0.1 (per-run pooling would give 0.08); random (0.2 + 0.2 / 3) / 2
    assert tpe["normalized regret"] == "0.1000" and rnd["normalized regret"] == "0.1333"
    assert tpe["reached \u22641 pt"] == "80 %" and tpe["reached \u22640.5 pt"] == "0 %"
    assert tpe["budget to \u22641 pt"] == "50 %" and rnd["budget to \u22641 pt"] == "not reached"
    assert tpe["overhead / eval"] == "2 ms" and tpe["repeats %"] == "4 %" and rnd["repeats %"] == "0 %"
    assert pooled_table(finals[finals["benchmark"] == "A"])[1] == []  # nothing to pool from one benchmark


def test_lcbench_columns_say_balanced_accuracy_and_drop_what_no_run_has():
    """LCBench's test error is 1 - balanced accuracy: the header says so (it read "test acc" and
    showed 57 % beside 99 % validation accuracy on an imbalanced task); precision, recall and F1,
    which no LCBench run has, are one note instead of three columns of "n/a"."""
    from mfbench.analysis.framework_table import NA_SURROGATE, accuracy_labels, framework_table

    metrics = {"val_error": "1 - val_accuracy/100", "test_error": "1 - test_balanced_accuracy"}
    try:  # the manifest the benchmark itself writes, where the YAHPO files are here
        from mfbench.objectives.lcbench import load as load_lcbench

        metrics = load_lcbench("lcbench/3945").manifest()["metrics"]
    except Exception:  # noqa: BLE001  (no lcbench extra or data: the formulas as the manifest states them)
        pass
    manifest = {"benchmarks": {"lcbench-3945": {"kind": "lcbench", "objective": {"metrics": metrics}}}}
    labels = accuracy_labels(manifest, "lcbench-3945")
    assert labels == {"val_acc": "val acc", "test_acc": "test balanced acc"}
    assert accuracy_labels({"benchmarks": {"t": {"kind": "tabular", "objective": {}}}}, "t") == {
        "val_acc": "val acc",
        "test_acc": "test acc",
    }
    finals = pd.DataFrame(
        [
            {
                "benchmark": "lcbench-3945",
                "optimizer": o,
                "seed": s,
                "framework": framework_of(o),
                "test_acc": 0.57,
                "val_acc": 0.99,
                "test_precision": np.nan,
                "test_recall": np.nan,
                "test_f1": np.nan,
                "time_to_0.01": 10.0,
                "time_to_0.005": np.inf,
                "evaluations": 5,
                "epochs": 50,
                "overhead_per_eval_s": 0.001,
                "repeats": 0,
            }
            for o in ("tpe", "random")
            for s in (0, 1)
        ]
    )
    head, rows, note = framework_table(finals, "lcbench-3945", NA_SURROGATE, labels)
    assert "test balanced acc %" in head and "val acc %" in head and "test acc %" not in head
    assert not {"precision %", "recall %", "F1 %"} & set(head) and all(len(r) == len(head) for r in rows)
    assert note == "Precision, recall and F1: n/a (not modelled)." and NA_SURROGATE == "n/a: not modelled"
    cells = dict(zip(head, rows[0]))
    assert cells["test balanced acc %"] == "57.00 \u00b1 0.00" and cells["val acc %"] == "99.00 \u00b1 0.00"
