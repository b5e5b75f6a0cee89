"""YAHPO Gym's LCBench as mfbench benchmarks: equal to yahpo_gym's answers (a fixture the
comparison script recorded), prefix fidelity and monotone continuation costs, suites, the
refusals (unknown task, missing onnxruntime, missing or foreign data), and short replays with
optimizers of every family."""

from __future__ import annotations

import itertools
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from mfbench.core.errors import UsageError
from mfbench.objectives import lcbench, registry

pytest.importorskip("onnxruntime", reason='the lcbench extra is not installed (pip install -e ".[lcbench]")')
try:
    DATA = lcbench.find_data_dir()
except UsageError as exc:  # pragma: no cover - CI and this repository have ../shared/data/yahpo-lcbench
    pytest.skip(f"no LCBench data here: {exc}", allow_module_level=True)

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "lcbench_yahpo_golden.json").read_text())


@pytest.fixture(scope="module")
def obj():
    return lcbench.LCBenchObjective("3945")


def _configs(o, n, seed=0):
    o.space.seed(seed)
    return [
        {k: (int(v) if k in lcbench.INTEGERS else float(v)) for k, v in dict(c).items()}
        for c in (o.space.sample_configuration(n) if n > 1 else [o.space.sample_configuration()])
    ]


def test_answers_equal_yahpo_gym_on_recorded_queries():
    queries = GOLDEN["queries"]
    assert len(queries) >= 20 and len({q["task"] for q in queries}) >= 10
    for q in queries:
        o = lcbench.LCBenchObjective(q["task"])
        got = o.outputs([q["config"]], q["epoch"])
        for t in lcbench.TARGETS:
            assert abs(float(got[t][0]) - q["yahpo"][t]) <= 1e-5 * max(1.0, abs(q["yahpo"][t]) * 1e-1), (q, t)
        if o.budgets[0] <= q["epoch"] <= o.max_budget:  # the mapping of the optimized and the reported metric
            r = o.evaluate(q["config"], q["epoch"], 0)
            assert r.val_error == pytest.approx(1 - q["yahpo"]["val_accuracy"] / 100, abs=1e-5)
            assert r.metrics["test_error"] == pytest.approx(1 - q["yahpo"]["test_balanced_accuracy"], abs=1e-5)


def test_space_ladder_and_references(obj):
    assert obj.budgets == [3, 6, 12, 24, 48]
    assert obj.deterministic  # told to SMAC by for_objective (tests/test_optimizers_smac.py)
    from mfbench.optimizers.base import ladder_eta

    assert ladder_eta(obj.budgets) == 2
    assert sorted(obj.space.keys()) == sorted(lcbench.HYPERPARAMETERS)
    assert obj.space["learning_rate"].log and obj.space["batch_size"].log and not obj.space["momentum"].log
    # the optimum is a configuration of the space whose true value is the recorded optimum
    assert obj.true_value(obj.optimum_config)[0] == pytest.approx(obj.optimum["val_error"], abs=1e-9)
    vals = [obj.true_value(c)[0] for c in _configs(obj, 300)]
    assert obj.bounds["best"] <= min(vals) and max(vals) <= obj.bounds["worst"] + 0.05
    assert obj.full_budget_cost() > 0 and obj.supports_continuation


#: configurations whose predicted cumulative ``time`` falls between rungs 24 and 48 on task 3945
NON_MONOTONE = [
    {
        "batch_size": 116,
        "learning_rate": 0.0866847197835,
        "max_dropout": 0.323117166897,
        "max_units": 1011,
        "momentum": 0.8689255662265,
        "num_layers": 2,
        "weight_decay": 0.0024074345191,
    },
    {
        "batch_size": 82,
        "learning_rate": 0.0910736373111,
        "max_dropout": 0.7380495801797,
        "max_units": 125,
        "momentum": 0.3881431871865,
        "num_layers": 2,
        "weight_decay": 0.0004548453363,
    },
]


def test_prefix_fidelity_and_monotone_continuation_costs(obj):
    for cfg in NON_MONOTONE:  # the case the running maximum is for
        t = obj.outputs([cfg], 24)["time"][0], obj.outputs([cfg], 48)["time"][0]
        assert t[1] < t[0]
        assert obj.evaluate(cfg, 48, 0).cost_seconds == pytest.approx(float(t[0]), rel=1e-6)
    for cfg in NON_MONOTONE + _configs(obj, 40, seed=1):
        scratch = {b: obj.evaluate(cfg, b, 0) for b in obj.budgets}
        costs = [scratch[b].cost_seconds for b in obj.budgets]
        assert all(c2 >= c1 for c1, c2 in itertools.pairwise(costs)), costs  # running maximum
        paid, prev = 0.0, 0
        for b in obj.budgets:
            c = obj.evaluate(cfg, b, 7, mode="continue", resume_from=prev)
            assert c.val_error == scratch[b].val_error  # the same prefix of the one training
            assert c.cost_seconds >= 0 and c.cost_epochs == b - prev
            paid += c.cost_seconds
            prev = b
        assert paid == pytest.approx(scratch[obj.max_budget].cost_seconds, rel=1e-9)  # continuations add up
        assert obj.evaluate(cfg, 48, 123).val_error == scratch[48].val_error  # no seed noise


def test_batch_equals_single_queries(obj):
    cfgs = _configs(obj, 50, seed=2)
    for mode, r in (("scratch", None), ("continue", 6)):
        batch = obj.evaluate_batch(cfgs, 24, list(range(50)), mode=mode, resume_from=r)
        for c, rb in zip(cfgs, batch):
            rs = obj.evaluate(c, 24, 0, mode=mode, resume_from=r)
            assert rb.val_error == pytest.approx(rs.val_error, abs=1e-5)
            assert rb.cost_seconds == pytest.approx(rs.cost_seconds, rel=1e-4, abs=1e-3)
            assert rb.cost_epochs == rs.cost_epochs


def test_curve_is_the_prefix(obj):
    cfg = _configs(obj, 1, seed=3)[0]
    r = obj.evaluate(cfg, 12, 0, curve=True)
    assert r.curve["epoch"] == list(range(1, 13))
    assert r.curve["val_error"][-1] == pytest.approx(r.val_error, abs=1e-5)
    assert np.all(np.diff(r.curve["cum_seconds"]) >= 0)


def test_names_suites_and_refusals(tmp_path, monkeypatch, capsys):
    from mfbench.objectives.registry import expand_suites, load_benchmark, suite

    assert len(suite("lcbench")) == 34 and suite("lcbench")[0] == "lcbench/3945"
    assert expand_suites(["digits", "lcbench/3945", "lcbench"])[:3] == [
        "digits-grid",
        "digits-cnn-surrogate",
        "lcbench/3945",
    ]
    assert len(expand_suites(["all"])) == 36
    assert load_benchmark("lcbench/3945").name == load_benchmark("lcbench-3945").name == "lcbench-3945"
    with pytest.raises(UsageError, match="unknown LCBench task '9999'"):
        load_benchmark("lcbench/9999")
    with pytest.raises(UsageError, match="not a tabular"):
        load_benchmark("lcbench/3945", kind="tabular")

    from mfbench.cli import main

    assert main(["replay", "--benchmarks", "lcbench/1", "--out", str(tmp_path / "r")]) == 2
    assert main(["replay", "--suite", "lcbenchx", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "unknown LCBench task '1'" in err[0] and "unknown suite 'lcbenchx'" in err[1]
    assert not (tmp_path / "r").exists()


def test_missing_onnxruntime_names_the_extra(tmp_path, monkeypatch, capsys):
    from mfbench.cli import main
    from mfbench.objectives import registry as benchmarks

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    monkeypatch.setattr(lcbench, "_MODELS", {})
    monkeypatch.setattr(benchmarks, "_CACHE", {})
    assert main(["replay", "--benchmarks", "lcbench/3945", "--optimizers", "random", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install -e ".[lcbench]"' in err[0]


def test_missing_or_foreign_data_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MFBENCH_YAHPO_DATA", str(tmp_path / "none"))
    with pytest.raises(UsageError, match="python -m mfbench download lcbench"):
        lcbench.find_data_dir()
    bad = tmp_path / "bad"
    shutil.copytree(DATA, bad)
    (bad / "model.onnx").chmod(0o644)
    with open(bad / "model.onnx", "r+b") as fh:  # one flipped byte
        fh.seek(1000)
        b = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(UsageError, match="not YAHPO's lcbench v1.0.2 model"):
        lcbench.Model(bad)


@pytest.mark.parametrize("name", ["random", "hyperband", "dehb", "tpe-asha", "smac-hb", "ga-mf", "optiml"])
def test_short_runs_of_every_optimizer_family(obj, name):
    from mfbench.execution.runner import run
    from mfbench.optimizers.base import for_objective
    from mfbench.optimizers.registry import get_optimizer_class

    try:
        cls = get_optimizer_class(name)
    except UsageError as exc:
        pytest.skip(str(exc))
    full = obj.full_budget_cost()
    opt = for_objective(cls, obj, 0, full_budgets=4)
    traj = run(obj, opt, seed=0, budget_seconds=4 * full, max_evals=300)
    cols = traj.columns(obj.optimum, obj.bounds)
    assert traj.n_evals >= 2
    regret = np.asarray(cols["regret"])
    assert np.all(np.isfinite(regret)) and np.all(regret >= -1e-9)
    assert np.all(np.diff(np.asarray(cols["incumbent_val_error"])) <= 1e-12)  # the incumbent never gets worse


def test_download_checks_every_file_and_leaves_nothing_on_a_mismatch(tmp_path, capsys):
    from mfbench.cli import main

    src = tmp_path / "mirror"
    src.mkdir()
    for f in lcbench.FILES:
        shutil.copy(DATA / f, src / f)
    dest = tmp_path / "cache" / "lcbench"
    (src / "encoding.json").chmod(0o644)
    good = (src / "encoding.json").read_bytes()
    (src / "encoding.json").write_bytes(good.replace(b'"3945": 34', b'"3945": 33'))  # a corrupted file
    assert main(["download", "lcbench", "--data-dir", str(dest), "--url", src.as_uri()]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sha256" in err[0] and "encoding.json" in err[0]
    assert not (tmp_path / "cache").exists()  # no partial folder left, nor the folders made for it
    assert main(["download", "lcbench", "--data-dir", str(dest), "--url", (tmp_path / "nowhere").as_uri()]) == 2
    assert "could not fetch" in capsys.readouterr().err
    (src / "encoding.json").write_bytes(good)
    assert main(["download", "lcbench", "--data-dir", str(dest), "--url", src.as_uri()]) == 0
    assert lcbench.find_data_dir(dest) == dest.resolve()
    assert main(["download", "lcbench", "--data-dir", str(dest), "--url", src.as_uri()]) == 0  # already there
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("x")
    assert main(["download", "lcbench", "--data-dir", str(other), "--url", src.as_uri()]) == 2
    assert [p.name for p in other.iterdir()] == ["mine.txt"]
    capsys.readouterr()
    under_a_file = other / "mine.txt" / "lcbench"  # said as such (it was "File exists")
    assert main(["download", "lcbench", "--data-dir", str(under_a_file), "--url", src.as_uri()]) == 2
    assert "mine.txt is a file, not a folder" in capsys.readouterr().err


def test_benchmarks_and_info_commands_state_the_semantics(capsys):
    from mfbench.cli import main

    assert main(["benchmarks", "--suite", "lcbench", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == lcbench.benchmark_names()
    assert main(["benchmarks", "--suite", "digits,lcbench,digits", "--json"]) == 0  # a list, as replay takes
    both = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in both] == [*registry.DIGITS, *lcbench.benchmark_names()]
    for r in rows:
        assert r["ladder"] == [3, 6, 12, 24, 48] and r["dimensions"] == 7 and "prefix" in r["fidelity"]
        assert (
            "deterministic" in r["noise"]
            and r["optimum_source"].startswith("search")
            and "yahpo_gym" in r["faithfulness"]
        )
    assert main(["info", "lcbench/3945"]) == 0
    assert json.loads(capsys.readouterr().out)["optimum"] == pytest.approx(
        lcbench.LCBenchObjective("3945").optimum["val_error"]
    )


def test_every_optimizer_constructs_on_the_lcbench_ladder(obj):
    """``--optimizers all`` on ladder 3..48: each optimizer builds and its first ask is on the
    ladder (Keras Tuner's and Ray's Hyperband used to refuse a ladder that does not start at 1)."""
    from mfbench.optimizers.registry import available, get_optimizer_class, make_optimizer

    for name in available():
        try:
            get_optimizer_class(name)
        except UsageError:  # an optional library that is not installed here
            continue
        trial = make_optimizer(name, obj.space, obj.budgets, 0).ask()
        assert trial.budget in obj.budgets, name


class _InUnits:
    """The LCBench objective seen on the ladder 1..16 (units of its smallest rung, 3 epochs)."""

    def __init__(self, o):
        self.o, self.space, self.budgets = o, o.space, [b // 3 for b in o.budgets]

    def evaluate(self, config, budget, seed, *, mode="scratch", resume_from=None):
        return self.o.evaluate(
            config, budget * 3, seed, mode=mode, resume_from=None if resume_from is None else resume_from * 3
        )


@pytest.mark.parametrize("name", ["kt-hyperband", "ray-hyperband", "ray-bohb"])
def test_hyperband_ports_count_in_units_of_the_smallest_rung(obj, name):
    """On ladder 3..48 the library runs its own Hyperband on 1..16 (eta 2) in units of 3 epochs:
    the trials are valid, their budgets exactly the ladder, the same for the same seed, and each
    is the trial the library asks on the ladder 1..16, its budgets times 3."""
    from support import drive

    from mfbench.optimizers.registry import make_optimizer

    def trials(objective, ladder):
        opt = make_optimizer(name, obj.space, ladder, 1)
        return opt, [(t.config, t.budget, t.mode, t.resume_from) for t, _ in drive(opt, objective, 70)]

    opt, got = trials(obj, obj.budgets)  # drive checks each config against the space and the ladder
    assert {b for _, b, _, _ in got} == set(obj.budgets)
    assert all(m == "continue" and r in (0, *obj.budgets[:-1]) for _, _, m, r in got)
    unit = opt.settings().get("epoch_unit", opt.settings().get("time_unit"))
    assert unit == 3
    assert trials(obj, obj.budgets)[1] == got  # deterministic
    _, in_units = trials(_InUnits(obj), [1, 2, 4, 8, 16])
    assert [(c, b * 3, m, r * 3) for c, b, m, r in in_units] == got


def test_a_report_on_part_of_the_lcbench_study_says_it_is_partial(tmp_path):
    """Two tasks of the suite, one run not run: the report says 'Partial study', how many runs
    have not run and how many of the suite's 34 tasks it holds."""
    from mfbench.analysis.report import write_report
    from mfbench.studies.replay import replay

    out = tmp_path / "study"
    replay(
        ["lcbench/3945", "lcbench/7593"],
        ["random", "hyperband"],
        [0, 1],
        "2x",
        jobs=1,
        out=out,
        progress=False,
        max_evals=30,
    )
    manifest = json.loads((out / "manifest.json").read_text())
    gone = next(r for r in manifest["runs"] if r["optimizer"] == "random" and r["seed"] == 1)
    manifest["runs"].remove(gone)  # as if that run had not run yet
    (out / "manifest.json").write_text(json.dumps(manifest))
    from mfbench.studies.runfiles import run_filename

    (out / "runs" / run_filename(gone["benchmark"], "random", 1)).unlink()
    text = (write_report(out, tmp_path / "rep", min_benchmark_blocks=2).parent / "report.md").read_text()
    assert "**Partial study**: 1 of the study's 8 runs have not run (yet)" in text
    assert "the study holds 2 of the 34 tasks of suite lcbench, 2 of them analysed" in text
