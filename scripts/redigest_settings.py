"""Recompute the settings digests of a study's runs with the current code, for runs recorded
before a fix to what an optimizer reports as its settings.

Until session 12 ``smac-bo-gp`` recorded SMAC's ``meta`` after its run, and a GP's ``meta``
reports the kernel hyperparameters it was last fitted to: every run had its own digest, and the
report would call its runs on a benchmark a mix of settings. Settings are what the optimizer is
built with, a function of (benchmark, seed, options) alone, so this script rebuilds each run's
optimizer exactly as ``replay`` does (``run_optimizer`` with the study's budget), without
running it, and records the digest of its settings; the optimizer's entry under ``optimizers``
becomes the settings of its lowest-seed run. It takes the study's lock, so it never runs beside
a replay of the same folder.

    PYTHONHASHSEED=6640 python scripts/redigest_settings.py runs/lcbench --optimizers smac-bo-gp
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

from mfbench.core.errors import UsageError
from mfbench.core.io import atomic_write_text, hold_exclusive, jsonable
from mfbench.studies.manifest import settings_digest
from mfbench.studies.replay import HASH_SEED, load, resolve_optimizers, run_optimizer


def _objective(label: str):
    """The benchmark a label names: the label itself, or a suite member whose ``/`` the label
    turned into ``-`` (``lcbench-7593`` is ``lcbench/7593``)."""
    try:
        return load(label)
    except UsageError:
        return load(label.replace("-", "/", 1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study")
    p.add_argument("--optimizers", required=True, help="comma-separated names")
    a = p.parse_args(argv)
    run_dir = Path(a.study)
    path = run_dir / "manifest.json"
    if not path.is_file():
        print(f"redigest_settings: {run_dir} holds no manifest.json", file=sys.stderr)
        return 2
    if os.environ.get("PYTHONHASHSEED") != HASH_SEED:  # the settings record it, as replay's workers do
        print(f"redigest_settings: run it with PYTHONHASHSEED={HASH_SEED}, as replay runs its jobs", file=sys.stderr)
        return 2
    names = [n for n in a.optimizers.split(",") if n]
    try:
        targets = resolve_optimizers(names)
    except UsageError as exc:
        print(f"redigest_settings: {exc}", file=sys.stderr)
        return 2
    held = hold_exclusive(run_dir, f"{run_dir} is being written by a replay; run this when it has finished")
    try:
        man = json.loads(path.read_text())
        objectives: dict[str, object] = {}
        before, after = defaultdict(set), defaultdict(set)
        lowest: dict[str, tuple[int, dict]] = {}
        for entry in man["runs"]:
            o, label, seed = entry["optimizer"], entry["benchmark"], int(entry["seed"])
            if o not in targets or entry.get("status") != "ok":
                continue
            if label not in objectives:
                objectives[label] = _objective(label)
            obj = objectives[label]
            module, attr = targets[o].split(":")
            cls = getattr(importlib.import_module(module), attr)
            opt = run_optimizer(cls, obj, seed, float(man["budget"]["seconds"][label]))
            settings = jsonable(opt.describe(), strict=False)
            if hasattr(opt, "close"):
                opt.close()
            before[(label, o)].add(entry.get("settings_digest"))
            entry["settings_digest"] = settings_digest(settings)
            after[(label, o)].add(entry["settings_digest"])
            if o not in lowest or seed < lowest[o][0]:
                lowest[o] = (seed, settings)
        for o, (_, settings) in lowest.items():
            man["optimizers"][o] = settings
        atomic_write_text(path, json.dumps(man, indent=1, default=str))
    finally:
        held.release()
    for o in targets:
        keys = [k for k in before if k[1] == o]
        mixed_before = sum(len(before[k]) > 1 for k in keys)
        mixed_after = sum(len(after[k]) > 1 for k in keys)
        digests = {d for k in keys for d in after[k]}
        print(
            f"{o}: {sum(len(before[k]) for k in keys)} (benchmark, digest) pairs before; benchmarks with more "
            f"than one digest: {mixed_before} before, {mixed_after} after; {len(digests)} distinct digest(s) now"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
