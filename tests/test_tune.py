"""`mfbench tune`: real trainings on digits (CPU), appended to the table, same output as replay."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest

from mfbench.cli import main
from mfbench.execution.runner import COLUMNS

pytestmark = pytest.mark.slow


def test_tiny_tune_trains_appends_and_writes_a_replay_format(tmp_path, capsys):
    pytest.importorskip("mfbench.objectives.real", reason="RealObjective").RealObjective  # noqa: B018
    db, out = tmp_path / "live.sqlite", tmp_path / "tune"
    code = main(
        [
            "tune",
            "--dataset",
            "digits",
            "--optimizer",
            "random",
            "--budget",
            "3x",
            "--device",
            "cpu",
            "--db",
            str(db),
            "--space",
            "cnn-grid",
            "--budgets",
            "1,2",
            "--out",
            str(out),
            "--seed",
            "5",
        ]
    )
    assert code == 0, capsys.readouterr().err

    man = json.loads((out / "manifest.json").read_text())
    assert man["clock"] == "wall" and man["optimum_source"] == "best-found" and man["seeds"] == [5]
    (label,) = man["benchmarks"]
    info = man["benchmarks"][label]
    assert info["kind"] == "real" and info["ladder"] == [1, 2]
    calib = info["calibration"]["seconds"]
    assert calib > 0 and man["budget"]["seconds"][label] == pytest.approx(3 * calib)
    (run,) = man["runs"]
    assert run["status"] == "ok" and run["n_evals"] >= 1

    df = pd.read_parquet(out / "trajectories.parquet")
    assert list(df.columns) == list(COLUMNS) and len(df) == run["n_evals"]
    assert (df["budget"] == 2).all() and (df["mode"] == "scratch").all()
    assert (df["sim_time"] <= man["budget"]["seconds"][label]).all() and df["sim_time"].is_monotonic_increasing
    assert (df["cost_seconds"] > 0).all() and df["overhead_seconds"].ge(0).all()
    assert df[["regret", "normalized_regret", "test_regret", "incumbent_val_error"]].notna().all().all()
    assert (df["regret"] >= 0).all() and df["regret"].iloc[-1] == 0.0  # the reference is the best found
    assert info["optimum"]["val_error"] == df["incumbent_val_error"].min()

    # every training ran for real and is in the table: the calibration, each counted evaluation
    # and the one that ended past the budget (not counted, but trained)
    con = sqlite3.connect(db)
    try:
        runs = con.execute("SELECT config_id, seed, schedule_epochs, status FROM runs").fetchall()
        n_epochs = con.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
    finally:
        con.close()
    assert {r[1] for r in runs} == {5} and {r[2] for r in runs} == {2}
    assert set(df["config_id"]) <= {r[0] for r in runs}
    assert len(runs) >= len(set(df["config_id"])) + 1 and len(runs) <= n_epochs <= 2 * len(runs)

    report = pytest.importorskip("mfbench.analysis.report")
    index = report.write_report(out, tmp_path / "report")
    assert "<h1>mfbench report</h1>" in index.read_text()
