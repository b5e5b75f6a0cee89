"""The replay report on synthetic replay directories written in the runner's format."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mfbench.analysis.framework_table import framework_table, run_finals
from mfbench.analysis.report import SECTIONS, load_study, score_tables, values_at, write_report
from mfbench.analysis.stats import compare_optimizers
from mfbench.cli import main
from mfbench.core.errors import UsageError
from mfbench.studies.replay import summarize

LADDER = [1, 3, 9, 27]
SKILL = {"random": 0.0, "hyperband": 1.5, "smac": 4.0}  # higher skill = lower regret


def _run_rows(bench: str, b_idx: int, opt: str, o_idx: int, seed: int, total: float) -> pd.DataFrame:
    """A plausible trajectory: random budgets on the ladder, incumbent by observed error at the top budget."""
    rng = np.random.default_rng([seed, b_idx, o_idx])
    best, worst, sec_per_epoch = 0.05 + 0.01 * b_idx, 0.9, 2.0 + b_idx
    rows, t, epochs, evals = [], 0.0, 0, []
    for e in range(200):
        budget = int(rng.choice(LADDER))
        cost = budget * sec_per_epoch * (1 + 0.1 * rng.random())
        if t + cost > total:
            break
        t += cost
        epochs += budget
        true = best + (worst - best) * rng.random() ** (1.0 + SKILL[opt])
        observed = true + rng.normal(0, 0.02 / budget)
        evals.append((budget, observed, true, f"c{e}"))
        top = max(b for b, *_ in evals)
        inc = min((x for x in evals if x[0] == top), key=lambda x: x[1])
        rows.append(
            {
                "benchmark": bench,
                "optimizer": opt,
                "seed": seed,
                "eval_index": e,
                "worker": 0,
                "sim_time": t,
                "budget_fraction": t / total,
                "epochs_used": epochs,
                "budget": budget,
                "mode": "scratch",
                "config_id": f"c{e}",
                "val_error": observed,
                "test_error": observed + 0.01,
                "cost_seconds": cost,
                "cost_epochs": budget,
                "status": "ok",
                "overhead_seconds": 0.001,
                "incumbent_config_id": inc[3],
                "incumbent_val_error": inc[2],
                "incumbent_test_error": inc[2] + 0.01,
                "regret": inc[2] - best,
                "normalized_regret": (inc[2] - best) / (worst - best),
                "test_regret": inc[2] - best,
            }
        )
    return pd.DataFrame(rows)


def make_replay(
    path: Path,
    benchmarks=("b0", "b1"),
    optimizers=tuple(SKILL),
    seeds=(0, 1, 2, 3),
    failed=(("b1", "smac", 2),),
    missing=(("b0", "hyperband", 3),),
    empty=(),
) -> Path:
    """A replay directory in the runner's format: manifest, per-run parquet files, trajectories."""
    (path / "runs").mkdir(parents=True)
    totals = {b: 400.0 * (1 + i) for i, b in enumerate(benchmarks)}
    runs, failures, frames = [], [], []
    for bi, b in enumerate(benchmarks):
        for oi, o in enumerate(optimizers):
            for s in seeds:
                key = (b, o, s)
                if key in missing:
                    continue
                if key in failed:
                    runs.append(
                        {
                            "benchmark": b,
                            "optimizer": o,
                            "seed": s,
                            "status": "failed",
                            "error": "RuntimeError: boom",
                            "n_evals": 3,
                            "wall_seconds": 0.1,
                        }
                    )
                    failures.append({"benchmark": b, "optimizer": o, "seed": s, "error": "RuntimeError: boom"})
                    continue
                df = _run_rows(b, bi, o, oi, s, totals[b])
                if key in empty:  # ended before its first evaluation: a run file without rows
                    df = df.iloc[:0]
                df.to_parquet(path / "runs" / f"{b}__{o}__{s}.parquet")
                frames.append(df)
                runs.append(
                    {
                        "benchmark": b,
                        "optimizer": o,
                        "seed": s,
                        "status": "ok",
                        "error": None,
                        "n_evals": len(df),
                        "wall_seconds": 0.5,
                    }
                )
    pd.concat(frames, ignore_index=True).to_parquet(path / "trajectories.parquet")
    manifest = {
        "command": "mfbench replay --synthetic",
        "created": "2026-01-01T00:00:00",
        "mfbench_version": "0.1.0",
        "versions": {"python": "3.11", "numpy": np.__version__, "pandas": pd.__version__},
        "hardware": {"host": "test", "cpu": "x86_64", "cores": 2},
        "seeds": list(seeds),
        "workers": 1,
        "count_overhead": False,
        "budget": {"spec": "50x", "seconds": totals},
        "benchmarks": {
            b: {
                "kind": "synthetic",
                "hash": f"sha256:{i:064x}",
                "ladder": LADDER,
                "optimum": {"val_error": 0.05 + 0.01 * i, "test_error": 0.06},
                "bounds": {"best": 0.05 + 0.01 * i, "worst": 0.9},
                "full_budget_seconds": 27 * (2.0 + i),
                "surrogate_hash": f"sha256:{i + 100:064x}",
            }
            for i, b in enumerate(benchmarks)
        },
        "optimizers": {o: {"name": o, "eta": 3} for o in optimizers},
        "runs": runs,
        "failures": failures,
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def test_report_of_tiny_replay_has_every_section(tmp_path):
    run = make_replay(tmp_path / "runs" / "tiny")
    index = write_report(run, budgets=(1.0,))
    out = index.parent
    assert index == run / "report" / "index.html"
    text = index.read_text()
    for _, title in SECTIONS:
        assert f">{title}</h2>" in text
        assert f"## {title}" in (out / "report.md").read_text()
    # self-contained: every figure inlined, and PNG + SVG beside the page
    assert text.count("src='data:image/png;base64,") == len(list((out / "figures").glob("*.png")))
    # two benchmarks < 5: the seeds of each benchmark are the blocks, one diagram per benchmark and fraction
    for f in ("1",):
        for b in ("b0", "b1"):
            for kind in ("cd", "pvalues"):
                assert (out / "figures" / f"{kind}_f{f}_{b}.png").stat().st_size > 5000
                assert (out / "figures" / f"{kind}_f{f}_{b}.svg").is_file()
            stats = json.loads((out / "data" / f"stats_f{f}_{b}.json").read_text())
            assert stats["n_blocks"] == 3 and stats["direction"] == "lower is better"
            # halves of one seed: split-half reliability cannot be measured, and the report says so
            assert stats["split_half"]["split_half_spearman_mean"] is None
    assert "reproducibility not measurable (3 seeds" in text
    assert "blocks: 3 seeds of benchmark b0" in text
    for b in ("b0", "b1"):
        assert (out / "figures" / f"anytime_{b}.png").is_file()
        for col in ("sim_time", "epochs_used"):
            curve = pd.read_csv(out / "data" / f"anytime_{col}_{b}.csv")
            assert set(curve["method"]) == set(SKILL) and (curve["n_seeds"] == 3).all()
            # 1.0 before the first result, a normalized regret in [0, 1] after
            for _, g in curve.groupby("method"):
                assert g["mean"].iloc[0] == 1.0 and g["mean"].between(0, 1).all() and g["mean"].iloc[-1] < 1.0
    assert (out / "figures" / "rank_over_time.png").is_file()
    ranks = pd.read_csv(out / "data" / "rank_over_time.csv")
    last = ranks[ranks["x"] == ranks["x"].max()].set_index("method")["rank"]
    assert last["smac"] < last["random"]
    # final table: median [IQR], best in bold, average rank row
    final = pd.read_csv(out / "data" / "final_table.csv")
    assert len(final) == 6 and (final["q25"] <= final["median"]).all() and (final["median"] <= final["q75"]).all()
    assert "<td class='best'>" in text and "average rank" in text
    md = (out / "report.md").read_text()
    assert re.search(r"\| b0 \|.*\*\*[0-9.e-]+ \[", md)
    # manifest: versions, hardware, hashes (surrogate too)
    assert "sha256:" + f"{100:064x}" in text and "cores" in text and "numpy" in text
    # every excluded run listed with its reason (6: one failed, one missing, four dropped to keep seeds paired)
    assert "RuntimeError: boom" in text and "missing: no trajectory" in text and "dropped to keep seeds paired" in text
    assert len(pd.read_csv(out / "data" / "exclusions.csv")) == 6


def test_failed_and_missing_runs_are_excluded_and_listed(tmp_path):
    run = make_replay(tmp_path / "r")
    rep = load_study(run)
    ex = rep.exclusions.set_index(["benchmark", "optimizer", "seed"])["reason"]
    assert ex[("b1", "smac", 2)] == "failed: RuntimeError: boom"
    assert ex[("b0", "hyperband", 3)].startswith("missing")
    # pairing: the other optimizers' runs on those seeds are dropped too, with the reason
    assert ex[("b1", "random", 2)].startswith("dropped to keep seeds paired") and "smac" in ex[("b1", "random", 2)]
    assert ex[("b0", "smac", 3)].startswith("dropped to keep seeds paired")
    assert len(ex) == 6
    assert rep.seeds == {"b0": [0, 1, 2], "b1": [0, 1, 3]}
    used = set(
        rep.trajectories[["benchmark", "optimizer", "seed"]].drop_duplicates().itertuples(index=False, name=None)
    )
    assert used.isdisjoint(ex.index) and len(used) == 18


def test_ok_in_manifest_without_rows_and_dead_optimizer(tmp_path):
    run = make_replay(
        tmp_path / "r", failed=tuple((b, "hyperband", s) for b in ("b0", "b1") for s in range(4)), missing=()
    )
    rep = load_study(run)
    assert rep.optimizers == ["random", "smac"]
    assert rep.dropped_optimizers == {"hyperband": "no usable run on any benchmark"}
    # a run the manifest calls ok but whose per-run file vanished (per-run files win over trajectories.parquet)
    (run / "runs" / "b0__smac__1.parquet").unlink()
    rep = load_study(run)
    ex = rep.exclusions.set_index(["benchmark", "optimizer", "seed"])["reason"]
    assert ex[("b0", "smac", 1)] == "missing: listed as ok in the manifest but has no trajectory rows"


def test_a_run_that_ended_without_an_evaluation_counts_as_regret_one(tmp_path):
    # Ray's Hyperband opens with a full-budget bracket: on LCBench a slow first configuration
    # ends past the whole budget and the run has no row. It is a run, not a lost one: dropping it
    # dropped that seed for every optimizer and hid the optimizer's worst outcome.
    run = make_replay(tmp_path / "r", failed=(), missing=(), empty=(("b0", "smac", 1),))
    rep = load_study(run)
    assert rep.empty_runs == {("b0", "smac", 1)}
    assert rep.seeds["b0"] == [0, 1, 2, 3] and len(rep.exclusions) == 0
    v = values_at(rep, 1.0)["b0"]
    assert v[rep.optimizers.index("smac"), 1] == 1.0 and (v[:, [0, 2, 3]] < 1.0).all()
    finals = run_finals(rep)
    row = finals[(finals["optimizer"] == "smac") & (finals["seed"] == 1) & (finals["benchmark"] == "b0")]
    assert len(row) == 1 and row["evaluations"].iloc[0] == 0 and row["normalized_regret"].iloc[0] == 1.0
    _, rows, _ = framework_table(finals, "b0")
    smac = next(r for r in rows if r[1] == "smac")
    evals = finals[finals["benchmark"].eq("b0") & finals["optimizer"].eq("smac")]["evaluations"]
    assert "(3 of 4 runs)" in smac[2] and smac[-4] == f"{evals.sum() / 4:.1f}"
    text = write_report(run, budgets=(1.0,)).read_text()
    assert "Runs without a result" in text and "smac seed 1 on b0" in text
    # the replay's own summary counts it as regret 1.0 with no evaluations
    frame = pd.concat([pd.read_parquet(f) for f in sorted((run / "runs").glob("*.parquet"))]).assign(repeat=0)
    manifest = json.loads((run / "manifest.json").read_text())
    row = next(r for r in summarize(frame, manifest["runs"]) if r["benchmark"] == "b0" and r["optimizer"] == "smac")
    others = [v[rep.optimizers.index("smac"), j] for j in (0, 2, 3)]
    assert row["ok"] == 4 and row["mean_evals"] == evals.sum() / 4
    assert row["mean_final_normalized_regret"] == pytest.approx((sum(others) + 1.0) / 4)


def test_value_at_fraction_is_last_row_at_or_before_it(tmp_path):
    run = make_replay(
        tmp_path / "r", benchmarks=("b0",), optimizers=("random", "smac"), seeds=(0, 1), failed=(), missing=()
    )
    rep = load_study(run)
    t = rep.trajectories
    g = t[(t["optimizer"] == "smac") & (t["seed"] == 1)]
    f = float(g["budget_fraction"].iloc[3])
    v = values_at(rep, f)["b0"]
    assert v[1, 1] == g["normalized_regret"].iloc[3]  # a row exactly at f counts
    v = values_at(rep, float(np.nextafter(g["budget_fraction"].iloc[4], 0)))["b0"]
    assert v[1, 1] == g["normalized_regret"].iloc[3]
    first = t.groupby(["optimizer", "seed"])["budget_fraction"].min().min()
    assert (values_at(rep, first / 2)["b0"] == 1.0).all()  # no row yet: normalized regret 1.0


def test_five_benchmarks_are_the_blocks(tmp_path):
    benches = tuple(f"b{i}" for i in range(5))
    rep = load_study(make_replay(tmp_path / "r", benchmarks=benches, seeds=(0, 1, 2), failed=(), missing=()))
    tables = score_tables(rep, 1.0, min_benchmark_blocks=5)
    assert list(tables) == [None]  # one comparison over benchmarks, not one per benchmark
    scores = tables[None]
    assert list(scores.index) == list(benches) and list(scores.columns) == list(SKILL)
    assert scores.loc["b2", "smac"] == pytest.approx(values_at(rep, 1.0)["b2"][2].mean())  # seed-averaged
    comp = compare_optimizers(scores)
    assert comp.n_blocks == 5 and comp.average_ranks.idxmin() == "smac"
    per_bench = score_tables(rep, 1.0, min_benchmark_blocks=6)
    assert list(per_bench) == list(benches) and per_bench["b0"].shape == (3, 3)


def test_report_cli_and_bad_input(tmp_path, capsys):
    run = make_replay(tmp_path / "r", benchmarks=("b0",), seeds=(0, 1, 2), failed=(), missing=())
    assert main(["report", str(run), "--out", str(tmp_path / "o"), "--budgets", "0.5", "--alpha", "0.1"]) == 0
    assert (tmp_path / "o" / "figures" / "cd_f0.5_b0.png").is_file()
    capsys.readouterr()
    for argv in (
        ["report", str(tmp_path / "nope")],
        ["report", str(run), "--budgets", "0.5,x"],
        ["report", str(run), "--budgets", "1.5"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("mfbench report: error:") and "\n" not in err
    (run / "manifest.json").write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_study(run)


def test_split_half_reliability_beside_every_cd_diagram(tmp_path):
    """Eight paired seeds: every CD diagram's caption and the summary say whether the ranking would reproduce."""
    run = make_replay(tmp_path / "r", seeds=tuple(range(8)), failed=(), missing=())
    index = write_report(run, budgets=(0.25, 1.0))
    text, out = index.read_text(), index.parent
    for f in ("0.25", "1"):
        for b in ("b0", "b1"):
            sh = json.loads((out / "data" / f"stats_f{f}_{b}.json").read_text())["split_half"]
            assert sh["n_blocks"] == 8 and sh["n_half"] == 4 and sh["split_half_spearman_mean"] is not None
            assert sh["reading"] in text  # caption of the diagram and the summary line
            assert text.count(sh["reading"]) >= 2
    summary = json.loads((out / "data" / "summary.json").read_text())
    assert all("split_half" in c for c in summary["comparisons"])


def test_both_formats_say_the_same_things(tmp_path):
    """One seed: no comparison can be computed, and report.md says so as index.html does; the
    final table's "lower is better" is bold in both; the optimizers' settings have one label."""
    run = make_replay(tmp_path / "r", benchmarks=("b0",), seeds=(0,), failed=(), missing=())
    index = write_report(run, budgets=(1.0,))
    html, md = index.read_text(), (index.parent / "report.md").read_text()
    line = "100 % of the budget: not computed (need at least 2 complete blocks to compare, got 1"
    assert f"<p class='ns'>{line}" in html
    assert f"\n{line}" in md
    assert "<b>lower is better</b>" in html and "**lower is better**" in md
    assert "<h3>Optimizers (settings)</h3>" in html and "\nOptimizers (settings):\n" in md


def test_surrogate_gate_line_beside_its_name(tmp_path):
    """A surrogate benchmark's gate line (recorded by replay) in the summary and the benchmark
    table; a benchmark without one, or with a malformed one, shows nothing new."""
    run = make_replay(tmp_path / "r", failed=(), missing=())
    m = json.loads((run / "manifest.json").read_text())
    line = "gates: 1/12 slices \u2265 1-seed ceiling, coverage 0.12\u20130.27, below gate (allowed)"
    m["benchmarks"]["b0"].update(kind="surrogate", gates=line)
    m["benchmarks"]["b1"].update(gates={"not": "a line"})
    (run / "manifest.json").write_text(json.dumps(m))
    index = write_report(run, budgets=(1.0,))
    md = (index.parent / "report.md").read_text()
    html = index.read_text()
    assert f"Surrogate benchmark **b0** \u2014 {line}." in md
    assert f"| b0 ({line}) |" in md and "| b1 |" in md and "a line" not in md
    assert "1/12 slices \u2265 1-seed ceiling" in html and html.count("below gate (allowed)") == 2


def test_benchmarks_as_blocks_say_whether_the_ranking_holds_with_other_seeds(tmp_path):
    """Five benchmarks as blocks share the optimizers' seeds: the report adds the seed split beside
    the task split, and with one seed says it cannot be measured."""
    benches = tuple(f"b{i}" for i in range(5))
    run = make_replay(tmp_path / "r", benchmarks=benches, seeds=(0, 1, 2, 3), failed=(), missing=())
    index = write_report(run, budgets=(1.0,))
    text, out = index.read_text(), index.parent
    ss = json.loads((out / "data" / "stats_f1.json").read_text())["seed_split"]
    assert ss["n_seeds"] == 4 and ss["n_seed_splits"] == 3 and ss["seed_split_spearman_mean"] is not None
    assert text.count(ss["reading"]) >= 2  # caption of the diagram and the summary line
    summary = json.loads((out / "data" / "summary.json").read_text())
    assert summary["comparisons"][0]["seed_split"]["reading"] == ss["reading"]
    one = make_replay(tmp_path / "one", benchmarks=benches, seeds=(0,), failed=(), missing=())
    text = write_report(one, budgets=(1.0,)).read_text()
    assert "with other seeds: not measurable (1 seed common to every benchmark" in text
