"""The public loader: ``mfbench.load_benchmark(name, kind=...)`` -> an Objective.

Shipped names resolve against the data root: ``$MFBENCH_DATA`` if set, else the repository
(``tabular/`` and ``surrogates/`` beside the package, which is installed editable). A direct
path to a ``.sqlite`` table or to a surrogate folder works too. Tabular and surrogate
objectives are cached per process (loading a table or a model costs seconds, a lookup
microseconds); real objectives are not (each holds its own writer).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfbench.core.errors import UsageError

KINDS = ("tabular", "surrogate", "real")


@dataclass(frozen=True)
class Shipped:
    description: str
    dataset: str
    space: str
    paths: dict[str, str] = field(default_factory=dict)  # kind -> path under the data root
    default_kind: str = "tabular"
    budgets: tuple[int, ...] = (1, 3, 9, 27)


SHIPPED: dict[str, Shipped] = {
    "digits-grid": Shipped(
        "exact tabular benchmark: 144-point grid on sklearn digits",
        "digits",
        "cnn-grid",
        {"tabular": "tabular/digits-grid.sqlite"},
    ),
    "digits-cnn": Shipped(
        "Sobol sample of the continuous CNN space on sklearn digits",
        "digits",
        "cnn",
        {"tabular": "tabular/digits-cnn.sqlite", "surrogate": "surrogates/digits-cnn"},
    ),
    "digits-cnn-surrogate": Shipped(
        "surrogate of digits-cnn over the whole continuous space",
        "digits",
        "cnn",
        {"surrogate": "surrogates/digits-cnn"},
        default_kind="surrogate",
    ),
}

#: the digits benchmarks of the default study (digits-cnn is the table digits-cnn-surrogate was fitted on)
DIGITS = ("digits-grid", "digits-cnn-surrogate")
#: named groups of benchmarks, accepted wherever a benchmark name is (``--benchmarks lcbench``,
#: ``--suite lcbench``); a report over >= 5 benchmarks uses them as the blocks
SUITES = ("digits", "lcbench", "all")

_CACHE: dict[tuple, Any] = {}


def suite(name: str) -> list[str]:
    """The benchmarks of a suite: ``digits`` (mfbench's CNN benchmarks), ``lcbench`` (YAHPO
    Gym's 34 LCBench tasks), ``all`` (both)."""
    from mfbench.objectives.lcbench import benchmark_names

    if name == "digits":
        return list(DIGITS)
    if name == "lcbench":
        return benchmark_names()
    if name == "all":
        return [*DIGITS, *benchmark_names()]
    raise UsageError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")


def expand_suites(specs: list[str]) -> list[str]:
    """Benchmark specs with every suite name replaced by its members; a benchmark that a suite
    repeats is kept once, one named twice by the user is refused (a typo, not a request)."""
    named = [s for s in specs if s not in SUITES]
    twice = sorted({s for s in named if named.count(s) > 1})
    if twice:
        raise UsageError(f"benchmark {twice[0]!r} is named twice in --benchmarks")
    out: list[str] = []
    for spec in specs:
        for name in suite(spec) if spec in SUITES else [spec]:
            if name not in out:
                out.append(name)
    return out


def data_root() -> Path:
    env = os.environ.get("MFBENCH_DATA")
    if env:
        return Path(env)
    import mfbench

    return Path(mfbench.__file__).resolve().parents[1]


def list_benchmarks() -> list[dict[str, Any]]:
    """Every shipped name with its kinds and whether its files are present."""
    root = data_root()
    out = []
    for name, s in SHIPPED.items():
        kinds = {k: {"path": str(root / p), "present": (root / p).exists()} for k, p in s.paths.items()}
        kinds["real"] = {"path": None, "present": True}
        out.append({"name": name, "description": s.description, "default_kind": s.default_kind, "kinds": kinds})
    return out


def load_benchmark(name: str | os.PathLike, kind: str | None = None, **options: Any) -> Any:
    """An objective (with ``space``, ``budgets``, ``optimum``, ``bounds``) for ``name``.

    ``options`` go to the objective: ``noise`` ("sample" / "mean") for tabular and surrogate,
    ``allow_partial`` for tabular, ``db``, ``device``, ``data_dir`` for real (``db`` defaults
    to ``$MFBENCH_CACHE/real/<name>.sqlite``, so a real objective never grows a shipped table
    unless asked to).
    """
    if kind is not None and kind not in KINDS:
        raise UsageError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    key = (str(name), kind, tuple(sorted((k, repr(v)) for k, v in options.items())))
    if key in _CACHE:
        return _CACHE[key]
    obj = _load(str(name), kind, options)
    if obj.kind != "real":
        _CACHE[key] = obj
    return obj


def clear_cache() -> None:
    _CACHE.clear()


def _load(name: str, kind: str | None, options: dict[str, Any]) -> Any:
    from mfbench.objectives.real import RealObjective
    from mfbench.objectives.surrogate import SurrogateObjective
    from mfbench.objectives.tabular import TabularObjective

    if (
        "@" in name and not Path(name).expanduser().exists()
    ):  # SURROGATE@TABLE: the surrogate served on the table's configurations only
        surr, table = name.split("@", 1)
        if kind not in (None, "surrogate"):
            raise UsageError(f"{name} is a surrogate restricted to a table, not a {kind} benchmark")
        s_obj = _load(surr, "surrogate", {"threads": options["threads"]} if "threads" in options else {})
        t_obj = _load(table, "tabular", {})
        return SurrogateObjective(s_obj.surrogate, name=f"{s_obj.name}@{t_obj.name}", restrict_to=t_obj, **options)
    if name.startswith("lcbench/") or re.fullmatch(
        r"lcbench-\d+", name
    ):  # YAHPO Gym's LCBench: its own loader (onnxruntime)
        if kind not in (None, "surrogate"):
            raise UsageError(f"{name} is YAHPO's surrogate, not a {kind} benchmark")
        from mfbench.objectives.lcbench import load

        return load(name, **options)
    if name in SHIPPED:
        s = SHIPPED[name]
        kind = kind or s.default_kind
        if kind == "real":
            return RealObjective(
                s.dataset,
                s.space,
                options.pop("db", None) or _real_db(name),
                budgets=s.budgets,
                name=f"{name}-real",
                benchmark=name,
                **options,
            )
        if kind not in s.paths:
            raise UsageError(f"{name} has no {kind} objective; it has: {', '.join([*s.paths, 'real'])}")
        path = data_root() / s.paths[kind]
        if not path.exists():
            raise UsageError(
                f"{name}: {path} not found (collect/fit it, or point MFBENCH_DATA at a folder "
                "with tabular/ and surrogates/)"
            )
        cls = TabularObjective if kind == "tabular" else SurrogateObjective
        return cls(path, name=name, **options)
    path = Path(name).expanduser()
    if path.is_dir() and (path / "manifest.json").exists():
        if kind not in (None, "surrogate"):
            raise UsageError(f"{path} is a surrogate folder, not a {kind} benchmark")
        return SurrogateObjective(path, **options)
    if path.is_file() and path.suffix in (".sqlite", ".db", ".sqlite3"):
        if kind == "real":
            from mfbench.tables.table import load_table

            meta = load_table(path).meta
            return RealObjective(
                meta["dataset"],
                meta["space_name"],
                options.pop("db", None) or _real_db(path.stem),
                budgets=meta["budgets"],
                benchmark=str(meta.get("benchmark", path.stem)),
                **options,
            )
        if kind == "surrogate":
            raise UsageError(f"{path} is a table; fit a surrogate on it with 'mfbench fit {path} --out DIR'")
        return TabularObjective(path, **options)
    raise UsageError(
        f"unknown benchmark {name!r}; known: {', '.join(SHIPPED)}, lcbench/<task> (or a path to a "
        ".sqlite table or a surrogate folder)"
    )


def _real_db(name: str) -> Path:
    from mfbench.surrogates.store import cache_dir

    return cache_dir() / "real" / f"{name}.sqlite"


_DIGITS_FIDELITY = (
    "a schedule per budget (cosine, recorded): scratch reads the training whose schedule ends at the "
    "budget; continue reads the prefix of the longest schedule and pays only the extra epochs"
)
_DIGITS_NOISE = {
    "tabular": "recorded training seeds (a seed picks one; the incumbent is scored by their mean)",
    "surrogate": "a noise model fitted on the per-seed spread (the incumbent is scored by the mean)",
}


def describe(name: str) -> dict[str, Any]:
    """What ``mfbench benchmarks`` says about one benchmark: kind, dimensions, ladder, fidelity
    semantics, noise, optimum and its source, faithfulness where known, where its data comes from."""
    obj = load_benchmark(name)
    if hasattr(obj, "describe"):
        return obj.describe()
    kind = obj.kind or "?"
    out = {
        "name": name,
        "kind": kind,
        "dimensions": len(obj.space),
        "ladder": [int(b) for b in obj.budgets],
        "fidelity": _DIGITS_FIDELITY,
        "noise": _DIGITS_NOISE.get(kind, ""),
        "optimum": obj.optimum["val_error"],
    }
    if kind == "tabular":
        out["optimum_source"] = "exact: best seed-mean of the table"
        out["faithfulness"] = "exact (recorded trainings)"
        out["data"] = str(obj.path)
    else:
        ref = obj.surrogate.manifest.get("reference", {})
        out["optimum_source"] = f"best of {ref.get('n_sample', '?')} random configs"
        q = obj.surrogate.path / "quality.json" if obj.surrogate.path else None
        try:
            import json

            sl = json.loads(q.read_text())["targets"]["val_error"]["slices"]
            top = next(s for s in sl if s["slice"] == f"b={obj.max_budget} all")
            out["faithfulness"] = f"5-fold CV, b={obj.max_budget}: Spearman {top['spearman']:.2f}"
        except (OSError, ValueError, KeyError, StopIteration, AttributeError, TypeError):
            out["faithfulness"] = "unknown (no quality.json)"
        from mfbench.surrogates.gates import surrogate_gate_line

        out["gates"] = surrogate_gate_line(obj.surrogate)
        out["data"] = str(obj.surrogate.path)
    return out
