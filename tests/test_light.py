"""The core stays light: the main job (replay and report on the shipped data) never imports
torch, and a command that needs a missing extra says which ``pip install`` fixes it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CORE = [
    "mfbench",
    "mfbench.studies.replay",
    "mfbench.analysis.report",
    "mfbench.objectives.base",
    "mfbench.execution.runner",
    "mfbench.surrogates",
    "mfbench.objectives.registry",
    "mfbench.analysis.stats",
    "mfbench.analysis.plots",
    "mfbench.tables.table",
    "mfbench.cli",
    "mfbench.optimizers",
    "mfbench.core.runlog",
    "mfbench.core.extras",
]


def _python(code: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _torch_free(code: str) -> None:
    proc = _python(code + "\nimport sys\nprint('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "NO-TORCH", proc.stdout


def test_importing_the_core_does_not_import_torch():
    _torch_free("\n".join(f"import {m}" for m in CORE) + "\nfrom mfbench.cli import build_parser\nbuild_parser()")


def test_loading_the_shipped_benchmarks_does_not_import_torch():
    """skops' import walks every scikit-learn subpackage, whose array-API shim for torch imports
    torch whenever it is installed (10 s and the memory of torch in every replay worker)."""
    _torch_free(
        "from mfbench.studies.replay import load\nfor b in ('digits-grid', 'digits-cnn-surrogate'):\n"
        "    load(b).evaluate\n"
    )


def test_skops_trusted_types_are_the_same_without_the_shims():
    code = (
        "import json, sys\n{imp}\nfrom skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES as t\n"
        "print(json.dumps(sorted(t)))"
    )
    light = _python(code.format(imp="from mfbench.core.lightimport import skops_io; skops_io()"))
    plain = _python(code.format(imp="import skops.io"))
    assert light.returncode == 0 and plain.returncode == 0, light.stderr + plain.stderr
    types = json.loads(light.stdout)
    assert len(types) > 100 and types == json.loads(plain.stdout)


@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None or importlib.util.find_spec("keras_tuner") is None,
    reason="the optimizers extra (keras-tuner, jax) is not installed",
)
def test_keras_tuner_runs_without_torch():
    _torch_free(
        "from mfbench.studies.replay import load, run_job, RunSpec\nfrom mfbench.optimizers.registry import REGISTRY\n"
        "o = load('synthetic-grid')\nfor name in ('kt-bo', 'kt-hyperband'):\n"
        "    r = run_job(RunSpec('synthetic-grid', 'g', name, 0, REGISTRY[name], 4 * o.full_budget_cost(), "
        "require_fixed_hash=False, optimum=tuple(o.optimum.items()), bounds=tuple(o.bounds.items())))\n"
        "    assert r['status'] == 'ok', r\n"
        "import keras\nassert keras.backend.backend() == 'numpy'"
    )


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("jax", "torch", "keras_tuner")),
    reason="needs both Keras backends (jax for numpy, and torch)",
)
def test_keras_tuner_proposes_the_same_under_numpy_and_torch():
    """The oracles never train: the backend must not change a single proposal."""
    code = (
        "import json\nfrom mfbench.studies.replay import load, run_job, RunSpec\nfrom mfbench.optimizers.registry import REGISTRY\n"
        "out = {}\nfor bench in ('synthetic-grid', 'synthetic-cnn'):\n    o = load(bench)\n"
        "    for name in ('kt-bo', 'kt-hyperband'):\n"
        "        r = run_job(RunSpec(bench, bench, name, 1, REGISTRY[name], 8 * o.full_budget_cost(), "
        "require_fixed_hash=False, optimum=tuple(o.optimum.items()), bounds=tuple(o.bounds.items())))\n"
        "        assert r['status'] == 'ok', r\n"
        "        out[bench + name] = [r['columns'][k] for k in ('config_id', 'budget', 'val_error')]\n"
        "import keras\nprint(keras.backend.backend())\nprint(json.dumps(out))"
    )
    runs = {b: _python(code, KERAS_BACKEND=b, PYTHONHASHSEED="6640") for b in ("numpy", "torch")}
    for backend, proc in runs.items():
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[-2] == backend
    numpy_, torch_ = (json.loads(runs[b].stdout.splitlines()[-1]) for b in ("numpy", "torch"))
    assert all(len(v[0]) >= 8 for v in numpy_.values())
    assert numpy_ == torch_


def _cli_without(modules: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The CLI in a process where ``modules`` cannot be imported, as if their extra were missing."""
    hide = (
        "class Hide:\n    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {modules!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
    )
    return _python(
        f"import sys\n{hide}from mfbench.cli import main\nsys.exit(main({list(args)!r}))", PYTHONHASHSEED="6640"
    )


@pytest.mark.parametrize(
    "modules,args,fix",
    [
        (["torch"], ["collect", "--dataset", "digits", "--db", "{tmp}/t.sqlite", "--n-configs", "1"], '".[train]"'),
        (["torch"], ["tune", "--optimizer", "random", "--db", "{tmp}/t.sqlite", "--out", "{tmp}/o"], '".[train]"'),
        (
            ["smac"],
            ["replay", "--benchmarks", "synthetic-grid", "--optimizers", "smac-bo-gp", "--out", "{tmp}/o"],
            '".[optimizers]"',
        ),
        (
            ["distributed"],
            [
                "replay",
                "--benchmarks",
                "synthetic-grid",
                "--optimizers",
                "random",
                "--dask",
                "tcp://127.0.0.1:1",
                "--out",
                "{tmp}/o",
            ],
            '".[dask]"',
        ),
        (
            ["ray"],
            ["collect", "--dataset", "digits", "--db", "{tmp}/t.sqlite", "--n-configs", "1", "--ray", "local"],
            '".[ray]"',
        ),
        (
            ["ray"],
            [
                "replay",
                "--benchmarks",
                "synthetic-grid",
                "--optimizers",
                "random",
                "--ray",
                "local",
                "--out",
                "{tmp}/o",
            ],
            '".[ray]"',
        ),
    ],
)
def test_a_missing_extra_is_one_line_naming_the_install(tmp_path, modules, args, fix):
    proc = _cli_without(modules, *[a.format(tmp=tmp_path) for a in args], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pip install -e {fix}" in lines[0] and modules[0] in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_the_default_study_checks_the_libraries_without_importing_them():
    """Importing every optimizer's library in the driver cost seconds before the first progress
    line: the default study looks them up instead, and leaves out one that is missing."""
    code = (
        "import sys\nclass Hide:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'hyperopt':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Hide())\nfrom mfbench.studies.replay import resolve_optimizers\n"
        "names = resolve_optimizers(None)\n"
        "print(sorted(names), [m for m in ('smac', 'optuna', 'keras', 'dehb', 'hpbandster') if m in sys.modules])"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    names, imported = proc.stdout.strip().split("] [")
    assert "'random'" in names and "'ga-mf'" in names and "hyperopt-tpe" not in names
    assert imported == "]"
