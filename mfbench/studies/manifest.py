"""A study's ``manifest.json``: one builder for ``replay`` (simulated clock) and ``tune`` (wall
clock), so that both write the same keys and the report reads either the same way.

A manifest says what was run (command, seeds, budget, benchmarks, optimizer settings), on
what (library versions, hardware), and how each run ended (``runs``, ``failures``).
``read_study_manifest`` reads one back, refusing in one line one of the wrong shape.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from mfbench.core.errors import UsageError, read_json

#: settings that the run seed derives (every adapter's ``seed``, seeds inside SMAC's facade
#: description, scikit-learn's ``random_state``, Keras Tuner's ``oracle_seed``, Optuna's
#: ``study_name``): left out of ``settings_digest`` at any depth, so that runs of one optimizer
#: differ in their digest only when the optimizer was driven differently
#: (``tests/test_replay.py`` checks every registered optimizer)
SEED_DERIVED_KEYS = frozenset({"seed", "random_state", "oracle_seed", "study_name"})


def settings_digest(settings: Any) -> str:
    """A short hash of an optimizer's recorded settings without the seed-derived ones: equal for
    every run of one optimizer on one benchmark unless how it is driven changed between them
    (a study continued across such a change mixes two versions of the optimizer; the report
    says so)."""
    import hashlib
    import json

    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in SEED_DERIVED_KEYS}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    text = json.dumps(strip(settings), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ended_without_a_result(run: dict[str, Any]) -> bool:
    """Whether a manifest's run entry is a run that finished without any evaluation (its first
    training would have ended past the budget): a run, with regret 1.0 throughout, not a lost one."""
    return run.get("status") == "ok" and run.get("n_evals") == 0


#: the libraries whose versions a manifest records (those that decide a trajectory)
VERSIONED = (
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "ConfigSpace",
    "scikit-learn",
    "torch",
    "joblib",
    "dask",
    "distributed",
    "smac",
    "optuna",
    "hyperopt",
    "hpbandster",
    "dehb",
    "keras-tuner",
    "keras",
)


def versions() -> dict[str, str | None]:
    """Python's version and that of every library of ``VERSIONED`` (None: not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def hardware() -> dict[str, Any]:
    """The host, its CPU model and its core count."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count()}


def study_manifest(
    *,
    command: str | None,
    clock: str,
    seeds: list[int],
    seeds_by_benchmark: dict[str, list[int]],
    workers: int,
    count_overhead: bool,
    budget: dict[str, Any],
    benchmarks: dict[str, Any],
    optimizers: dict[str, Any],
    runs: list[dict[str, Any]],
    noise_seeds: str,
    optimum_source: str,
    python_hash_seed: str | None,
    study: dict[str, Any] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """The manifest of a study folder. ``clock``: ``"simulated"`` (replay) or ``"wall"`` (tune);
    ``optimum_source``: ``"benchmark"`` (each benchmark's known optimum) or ``"best-found"``
    (the best incumbent of the study's runs, for the real objective); ``noise_seeds``: how an
    evaluation's objective seed is derived, in words; ``seeds_by_benchmark``: the seeds asked
    for on each benchmark (a report pairs seeds within a benchmark)."""
    from mfbench import __version__

    failures = [{k: r[k] for k in ("benchmark", "optimizer", "seed", "error")} for r in runs if r["status"] == "failed"]
    return {
        "command": command or " ".join(sys.argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "mfbench_version": __version__,
        "versions": versions(),
        "hardware": hardware() | ({"device": device} if device is not None else {}),
        "seeds": seeds,
        # the seeds asked for on each benchmark (a report pairs seeds within a benchmark)
        "seeds_by_benchmark": seeds_by_benchmark,
        "workers": workers,
        "count_overhead": bool(count_overhead),
        "clock": clock,
        "optimum_source": optimum_source,
        "budget": budget,
        "benchmarks": benchmarks,
        "optimizers": optimizers,
        "runs": runs,
        "failures": failures,
        "study": study or {},
        "python_hash_seed": python_hash_seed,
        "noise_seeds": noise_seeds,
    }


def read_study_manifest(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    manifest = read_json(path, hint="; use another --out")
    check_study_manifest(path, manifest)
    return manifest


#: the top-level keys of a study's manifest that reruns and the report read, with their types
STUDY_KEYS: dict[str, type | tuple[type, ...]] = {
    "runs": list,
    "study": dict,
    "benchmarks": dict,
    "optimizers": dict,
    "seeds": list,
    "budget": dict,
    "failures": list,
}


def check_study_manifest(path: Path, manifest: Any) -> None:
    """Refuse, in one line, a study manifest of the wrong shape (hand-edited or foreign), rather
    than failing somewhere inside a rerun or the report."""
    if not isinstance(manifest, dict):
        raise UsageError(f"{path}: not a replay manifest (a JSON object is expected)")
    for key, kind in STUDY_KEYS.items():
        if key in manifest and not isinstance(manifest[key], kind):
            raise UsageError(f"{path}: '{key}' must be a JSON {'list' if kind is list else 'object'}")
    for r in manifest.get("runs", []):
        if not isinstance(r, dict) or not all(k in r for k in ("benchmark", "optimizer", "seed", "status")):
            raise UsageError(f"{path}: every entry of 'runs' needs benchmark, optimizer, seed and status")
