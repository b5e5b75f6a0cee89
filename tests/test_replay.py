"""The replay study: files and manifest, reproducibility across processes, crashes, reruns, Dask."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mfbench.cli import main
from mfbench.core.errors import UsageError
from mfbench.core.types import Trial
from mfbench.execution.runner import COLUMNS, TIMING_COLUMNS
from mfbench.optimizers.native.random_search import RandomSearch
from mfbench.studies.replay import HASH_SEED, replay
from mfbench.training.space import sample_configs

REPO = Path(__file__).resolve().parents[1]
BENCH = "synthetic-grid"


class FailingOptimizer(RandomSearch):
    """Random search that raises on its third ask when its seed is odd: one crash among healthy runs."""

    name = "failing"

    def __init__(self, space, budgets, seed, **options):
        super().__init__(space, budgets, seed, **options)
        self._asks = 0

    def ask(self):
        self._asks += 1
        if self.seed % 2 == 1 and self._asks == 3:
            raise RuntimeError(f"deliberate failure of seed {self.seed}")
        return super().ask()


class SetOrderOptimizer(RandomSearch):
    """Proposes configs in the iteration order of a Python ``set`` of strings, which depends on
    ``PYTHONHASHSEED``: two processes agree only when it is fixed."""

    name = "set-order"

    def __init__(self, space, budgets, seed, **options):
        super().__init__(space, budgets, seed, **options)
        pool = sample_configs(space, 40, self.seed)
        self._order = [json.loads(t) for t in {json.dumps(c, sort_keys=True) for c in pool}]
        self._i = 0

    def ask(self):
        self._i += 1
        return Trial(config=self._order[(self._i - 1) % len(self._order)], budget=self.max_budget)


# passed as module:Class targets, which the replay sends to its workers (this module is on the
# workers' sys.path: loky and Dask pass the driver's; the CLI subprocess gets it in PYTHONPATH)
FAILING = f"{__name__}:FailingOptimizer"
SET_ORDER = f"{__name__}:SetOrderOptimizer"


def _frame(out: Path) -> pd.DataFrame:
    df = pd.read_parquet(out / "trajectories.parquet")
    return df.drop(columns=list(TIMING_COLUMNS))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "mfbench", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_replay_writes_the_contract(tmp_path):
    out = tmp_path / "study"
    res = replay(
        [BENCH, "synthetic-cnn"], ["random", SET_ORDER], [0, 1], "20x", workers=2, jobs=2, out=out, progress=False
    )
    assert (res.ran, res.ok, res.failed, res.skipped) == (8, 8, 0, 0)
    files = sorted(p.name for p in (out / "runs").glob("*.parquet"))
    assert files == sorted(
        f"{b}__{o}__{s}.parquet" for b in (BENCH, "synthetic-cnn") for o in ("random", "set-order") for s in (0, 1)
    )
    df = pd.read_parquet(out / "trajectories.parquet")
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == sum(len(pd.read_parquet(out / "runs" / f)) for f in files)
    for _, run in df.groupby(["benchmark", "optimizer", "seed"]):
        assert list(run["eval_index"]) == list(range(len(run)))
        assert run["sim_time"].is_monotonic_increasing and run["epochs_used"].is_monotonic_increasing
    assert df["budget_fraction"].between(0, 1).all() and set(df["worker"]) == {0, 1}
    assert (df["regret"] >= -1e-12).all() and df["normalized_regret"].between(-1e-12, 1).all()
    man = json.loads((out / "manifest.json").read_text())
    for key in (
        "command",
        "created",
        "mfbench_version",
        "versions",
        "hardware",
        "seeds",
        "workers",
        "count_overhead",
        "budget",
        "benchmarks",
        "optimizers",
        "runs",
        "failures",
    ):
        assert key in man
    b = man["benchmarks"][BENCH]
    assert b["kind"] == "synthetic" and b["ladder"] == [1, 3, 9, 27] and b["full_budget_seconds"] == 27.0
    assert man["budget"] == {"spec": "20x", "seconds": {BENCH: 540.0, "synthetic-cnn": 540.0}}
    assert b["bounds"]["best"] == b["optimum"]["val_error"] < b["bounds"]["worst"]
    assert man["optimizers"]["random"]["seed"] == 0 and man["seeds"] == [0, 1] and man["workers"] == 2
    assert len(man["runs"]) == 8 and all(r["status"] == "ok" and r["n_evals"] > 0 for r in man["runs"])
    assert {(r["benchmark"], r["optimizer"]) for r in res.summary} == {
        (b, o) for b in (BENCH, "synthetic-cnn") for o in ("random", "set-order")
    }


def test_same_seed_same_trajectory_in_two_processes(tmp_path):
    """One study through the CLI (its own interpreter and workers), one through the API (this
    process's worker pool): identical rows, measured overhead aside. ``set-order`` proposes in
    the order of a Python set of strings, so it agrees only because PYTHONHASHSEED is fixed."""
    args = [
        "--benchmarks",
        f"{BENCH},synthetic-cnn",
        "--optimizers",
        f"random,{SET_ORDER}",
        "--seeds",
        "3",
        "--budget",
        "15x",
        "--workers",
        "2",
        "--jobs",
        "1",
        "--no-report",
        "--no-progress",
    ]
    proc = _cli("replay", *args, "--out", str(tmp_path / "a"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    replay(
        [BENCH, "synthetic-cnn"],
        ["random", SET_ORDER],
        [3],
        "15x",
        workers=2,
        jobs=2,
        out=tmp_path / "b",
        progress=False,
    )
    a, b = _frame(tmp_path / "a"), _frame(tmp_path / "b")
    assert len(a) > 20
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_a_crash_loses_one_run_and_a_rerun_skips_finished_runs(tmp_path):
    out = tmp_path / "study"
    res = replay([BENCH], ["random", FAILING], [0, 1, 2], "10x", jobs=2, out=out, progress=False)
    assert (res.ok, res.failed) == (5, 1) and not res.all_failed
    assert res.failures == [
        {"benchmark": BENCH, "optimizer": "failing", "seed": 1, "error": "RuntimeError: deliberate failure of seed 1"}
    ]
    man = json.loads((out / "manifest.json").read_text())
    assert man["failures"] == res.failures
    assert [r["status"] for r in man["runs"] if r["optimizer"] == "failing"] == ["ok", "failed", "ok"]
    assert not (out / "runs" / f"{BENCH}__failing__1.parquet").exists()
    df = pd.read_parquet(out / "trajectories.parquet")
    assert sorted(set(zip(df["optimizer"], df["seed"]))) == [
        ("failing", 0),
        ("failing", 2),
        ("random", 0),
        ("random", 1),
        ("random", 2),
    ]
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*.parquet")}

    again = replay([BENCH], ["random", FAILING], [0, 1, 2], "10x", jobs=2, out=out, progress=False)
    assert (again.skipped, again.ran, again.ok, again.failed) == (5, 1, 5, 1)  # only the failed run is retried
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*.parquet")} == mtimes
    (out / "runs" / f"{BENCH}__random__2.parquet").unlink()
    third = replay([BENCH], ["random"], [0, 1, 2], "10x", jobs=1, out=out, progress=False)
    assert (third.skipped, third.ran) == (2, 1)
    pd.testing.assert_frame_equal(_frame(out), df.drop(columns=list(TIMING_COLUMNS)), check_exact=True)

    with pytest.raises(UsageError, match="other settings"):
        replay([BENCH], ["random"], [0], "20x", out=out, progress=False)


def test_exit_status_and_usage_errors(tmp_path, capsys):
    common = ["replay", "--benchmarks", BENCH, "--budget", "10x", "--no-report", "--no-progress", "--jobs", "2"]
    assert main([*common, "--optimizers", FAILING, "--seeds", "1,3", "--out", str(tmp_path / "bad")]) == 1
    assert "deliberate failure of seed 3" in capsys.readouterr().err
    assert main([*common, "--optimizers", f"{FAILING},random", "--seeds", "1", "--out", str(tmp_path / "h")]) == 0
    out = capsys.readouterr().out
    assert "failing" in out and "random" in out  # the summary table
    for args, message in [
        (["--optimizers", "nonesuch"], "unknown optimizer 'nonesuch'; known: "),
        (["--optimizers", "random", "--benchmarks", "nonesuch-bench"], "nonesuch-bench"),
        (["--optimizers", "random", "--budget", "lots"], "budget"),
        (["--optimizers", "mfbench.nope:Nope"], "cannot import optimizer"),
        (["--optimizers", "random", "--seeds", "a-b"], "--seeds"),
    ]:
        assert main([*common, *args, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_dask_local_cluster_gives_the_same_trajectories(tmp_path):
    distributed = pytest.importorskip("distributed")
    opts = (["random", SET_ORDER], [0, 1], "10x")
    replay([BENCH], *opts, workers=2, jobs=2, out=tmp_path / "local", progress=False)
    # a nanny starts its worker with PYTHONHASHSEED=6640 (HASH_SEED) unless configured otherwise
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        with distributed.Client(cl) as client:
            res = replay([BENCH], *opts, workers=2, dask=client, out=tmp_path / "dask", progress=False)
    assert res.ok == 4
    pd.testing.assert_frame_equal(_frame(tmp_path / "local"), _frame(tmp_path / "dask"), check_exact=True)


def test_dask_workers_without_fixed_hash_seed_are_refused(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)  # a nanny writes it into its parent's environment
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cl:
        with distributed.Client(cl) as client:
            with pytest.raises(UsageError, match=f"PYTHONHASHSEED={HASH_SEED}"):
                replay([BENCH], ["random"], [0], "5x", dask=client, out=tmp_path / "d", progress=False)


def test_replay_on_a_tiny_table(tmp_path):
    pytest.importorskip("mfbench.objectives.registry")
    from support import make_tiny_table

    path = make_tiny_table(tmp_path / "tiny.sqlite", space="cnn-grid", n_configs=None, budgets=(1, 3, 9))
    res = replay([str(path)], ["random"], [0, 1], "10x", jobs=2, out=tmp_path / "t", progress=False)
    assert res.ok == 2, res.failures
    man = json.loads((tmp_path / "t" / "manifest.json").read_text())
    (label,) = man["benchmarks"]
    info = man["benchmarks"][label]
    assert info["kind"] == "tabular" and info["ladder"] == [1, 3, 9]
    df = pd.read_parquet(tmp_path / "t" / "trajectories.parquet")
    assert (df["benchmark"] == label).all() and (df["budget"] == 9).all()
    assert (df["sim_time"] <= man["budget"]["seconds"][label]).all()
    assert (df["regret"] >= -1e-9).all() and df["regret"].iloc[-1] <= df["regret"].iloc[0]


def test_seeds_per_benchmark_are_run_recorded_and_paired_per_benchmark(tmp_path, monkeypatch):
    """The default study gives its benchmarks different seeds; the report pairs seeds within each
    benchmark and counts nothing missing on the benchmark that was not asked for more."""
    from mfbench.analysis.report import load_study
    from mfbench.studies import replay as replay_mod

    out = tmp_path / "study"
    seeds = {BENCH: [0, 1], "synthetic-cnn": [0, 1, 2, 3]}
    res = replay([BENCH, "synthetic-cnn"], ["random"], seeds, "3x", jobs=2, out=out, progress=False)
    assert (res.ok, res.failed) == (6, 0)
    man = json.loads((out / "manifest.json").read_text())
    assert man["seeds_by_benchmark"] == seeds and man["seeds"] == [0, 1, 2, 3]
    rep = load_study(out)
    assert rep.seeds == seeds and rep.exclusions.empty and rep.n_expected_runs == 6
    # a rerun with one list for both benchmarks adds seed 2 to the grid and keeps what was asked before
    again = replay([BENCH, "synthetic-cnn"], ["random"], [2], "3x", jobs=1, out=out, progress=False)
    assert (again.ran, again.skipped) == (1, 1)
    assert json.loads((out / "manifest.json").read_text())["seeds_by_benchmark"] == {
        BENCH: [0, 1, 2],
        "synthetic-cnn": [0, 1, 2, 3],
    }
    # with no benchmarks and no seeds named, the default study's own seeds per benchmark
    monkeypatch.setattr(replay_mod, "default_benchmarks", lambda: [BENCH])
    monkeypatch.setattr(replay_mod, "DEFAULT_STUDY_SEEDS", {BENCH: (5,)})
    res = replay(None, ["random"], None, "3x", jobs=1, out=tmp_path / "default", progress=False)
    assert json.loads((tmp_path / "default" / "manifest.json").read_text())["seeds_by_benchmark"] == {BENCH: [5]}


def test_the_help_states_the_default_study_it_runs(monkeypatch):
    """`replay --help` reads its defaults from the study's own constants (it once said 30 seeds
    on the surrogate after the study had moved to 50)."""
    import argparse

    from mfbench.cli import replay as cli_replay
    from mfbench.studies.defaults import DEFAULT_BUDGET, DEFAULT_OUT, DEFAULT_STUDY_SEEDS, seeds_text

    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps at the terminal's width
    parser = argparse.ArgumentParser()
    cli_replay.add_parser(parser.add_subparsers(), "replay", "run optimizers")
    sub = parser.parse_args(["replay"])
    assert sub.budget == DEFAULT_BUDGET and sub.out == DEFAULT_OUT
    text = " ".join(parser._subparsers._group_actions[0].choices["replay"].format_help().split())
    for bench, seeds in DEFAULT_STUDY_SEEDS.items():
        assert f"{bench} with seeds {seeds_text(seeds)}" in text
        assert f"{seeds_text(seeds)} on {bench}" in text
    assert seeds_text(range(50)) == "0-49" and seeds_text([0, 2, 5]) == "0,2,5" and seeds_text([3]) == "3"


def test_a_rerun_run_replaces_the_settings_its_old_run_recorded(tmp_path):
    """Settings are recorded once per optimizer, from its lowest seed. When that run is done
    again (its file set aside after a change in how the optimizer is driven, as session 11 did
    for SMAC on LCBench), the manifest must describe the new run, not keep the old one's."""
    from mfbench.studies.replay import replay

    out = tmp_path / "study"
    replay(["synthetic-grid"], ["random"], [0, 1], "3x", jobs=1, out=out, progress=False)
    path = out / "manifest.json"
    man = json.loads(path.read_text())
    fresh = man["optimizers"]["random"]
    man["optimizers"]["random"] = {**fresh, "stale": True}  # what an older version had recorded
    path.write_text(json.dumps(man))
    (out / "runs" / "synthetic-grid__random__1.parquet").unlink()  # a higher seed: its rerun leaves them
    replay(["synthetic-grid"], ["random"], [0, 1], "3x", jobs=1, out=out, progress=False)
    assert json.loads(path.read_text())["optimizers"]["random"].get("stale") is True
    (out / "runs" / "synthetic-grid__random__0.parquet").unlink()
    again = replay(["synthetic-grid"], ["random"], [0, 1], "3x", jobs=1, out=out, progress=False)
    assert again.ran == 1
    assert json.loads(path.read_text())["optimizers"]["random"] == fresh


def test_the_settings_digest_of_every_optimizer_ignores_only_the_seed():
    """Every registered optimizer: the digest of its recorded settings is the same for two run
    seeds (whatever each library derives from the seed is left out) and changes when an option
    that drives it changes (SMAC's ``deterministic``, session 11's LCBench fix). The settings are
    read as replay reads them, after a run: a library that reports fitted state among its
    settings (SMAC's GP kernel) would give every run its own digest."""
    import importlib

    from mfbench.core.io import jsonable
    from mfbench.execution.runner import run
    from mfbench.optimizers.base import for_objective
    from mfbench.studies.manifest import settings_digest
    from mfbench.studies.replay import load, resolve_optimizers

    obj = load("synthetic-cnn")

    def after_a_run(cls, seed):
        opt = for_objective(cls, obj, seed, full_budgets=30.0)
        run(obj, opt, seed=seed, budget_seconds=1e12, max_evals=12)
        return jsonable(opt.describe(), strict=False)

    for name, target in resolve_optimizers(None).items():
        module, attr = target.split(":")
        cls = getattr(importlib.import_module(module), attr)
        a, b = after_a_run(cls, 0), after_a_run(cls, 7)
        assert a != b and settings_digest(a) == settings_digest(b), name
    smac = resolve_optimizers(None).get("smac-bo-rf")
    if smac:
        cls = getattr(importlib.import_module(smac.split(":")[0]), smac.split(":")[1])
        noisy, exact = (
            settings_digest(jsonable(for_objective(cls, obj, 0, deterministic=d).describe(), strict=False))
            for d in (False, True)
        )
        assert noisy != exact


def test_the_report_says_when_an_optimizers_runs_mix_settings(tmp_path):
    """Each run records its settings digest; runs of one optimizer on one benchmark with two
    digests (a study continued across a change in how the optimizer is driven) are named in the
    report's summary."""
    from mfbench.analysis.report import write_report
    from mfbench.studies.replay import replay

    out = tmp_path / "study"
    replay(["synthetic-grid"], ["random", "grid"], [0, 1], "3x", jobs=1, out=out, progress=False)
    path = out / "manifest.json"
    man = json.loads(path.read_text())
    digests = {(r["optimizer"], r["seed"]): r["settings_digest"] for r in man["runs"]}
    assert digests[("random", 0)] == digests[("random", 1)] != digests[("grid", 0)]
    text = write_report(out, budgets=(1.0,)).read_text()
    assert "Mixed settings" not in text
    for r in man["runs"]:
        if (r["optimizer"], r["seed"]) == ("random", 1):
            r["settings_digest"] = "0123456789ab"  # as if made by an older version of the adapter
    path.write_text(json.dumps(man))
    text = write_report(out, budgets=(1.0,)).read_text()
    assert "Mixed settings" in text and "random on synthetic-grid (2 settings)" in text
    assert "grid on synthetic-grid" not in text.split("Mixed settings")[1].split("</li>")[0]


def test_a_killed_replay_keeps_the_record_of_the_runs_it_finished(tmp_path, monkeypatch):
    """A long study (LCBench: hours) is ended by a session's end: the manifest is rewritten while
    runs finish, so the runs a killed replay finished keep their wall time, evaluations, settings
    and digest. A run file that no manifest lists is recovered with its evaluations counted
    from the file (0 for a run that ended without any: the report uses it, with regret 1.0)."""
    import mfbench.studies.replay as rp

    real = rp._execute_local

    def killed_after_two(todo, jobs, log_dir=None):
        for i, res in enumerate(real(todo, jobs, log_dir)):
            if i == 2:
                raise KeyboardInterrupt  # the session ends
            yield res

    monkeypatch.setattr(rp, "MANIFEST_CHECKPOINT_SECONDS", 0.0)
    monkeypatch.setattr(rp, "_execute_local", killed_after_two)
    out = tmp_path / "study"
    with pytest.raises(KeyboardInterrupt):
        replay([BENCH], ["random"], [0, 1, 2, 3], "3x", jobs=1, out=out, progress=False)
    man = json.loads((out / "manifest.json").read_text())
    done = {r["seed"]: r for r in man["runs"]}
    assert sorted(done) == [0, 1] and len(list((out / "runs").glob("*.parquet"))) == 2
    assert all(r["wall_seconds"] > 0 and r["n_evals"] > 0 and r["settings_digest"] for r in done.values())
    assert "random" in man["optimizers"]

    # a run whose file outlived its manifest entry: recovered, its evaluations counted
    monkeypatch.setattr(rp, "_execute_local", real)
    man["runs"] = [r for r in man["runs"] if r["seed"] != 1]
    (out / "manifest.json").write_text(json.dumps(man))
    f1 = out / "runs" / f"{BENCH}__random__1.parquet"
    pd.read_parquet(f1).iloc[:0].to_parquet(f1)  # as if it had ended without an evaluation
    replay([BENCH], ["random"], [0, 1, 2, 3], "3x", jobs=1, out=out, progress=False)
    rec = {r["seed"]: r for r in json.loads((out / "manifest.json").read_text())["runs"]}
    assert rec[1]["status"] == "ok" and rec[1]["n_evals"] == 0 and rec[1]["wall_seconds"] is None
    from mfbench.analysis.report import load_study

    assert (BENCH, "random", 1) in load_study(out).empty_runs
