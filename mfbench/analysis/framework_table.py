"""The practitioner's table: each optimizer under its framework, the model it found and what it cost.

Per benchmark and per optimizer, over the paired seeds of a replay (``report.load_study``):

- the final incumbent's validation and test accuracy (1 - the noise-free mean errors the
  runner scored it with), mean ± sd over seeds;
- its test macro precision, recall and F1, from the confusion matrices the benchmark's table
  recorded for that configuration's full-length runs (the last epoch = the largest budget),
  averaged over the table's training seeds, then mean ± sd over the replay's seeds. A
  benchmark without matrices says why (a surrogate does not model them);
- the simulated time until the incumbent's validation accuracy is within 1 and 0.5 points of
  the benchmark's best (its optimum): median over seeds (a seed that never got there counts
  as infinitely late, so the median is "not reached" when fewer than half did) and the
  fraction of seeds that got there;
- evaluations and epochs used, the optimizer's own measured overhead per evaluation (wall
  seconds of ask + tell), and evaluations that repeated a (config, budget, mode) of the run.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mfbench.optimizers.registry import FRAMEWORKS, framework_of
from mfbench.training.classmetrics import normalize_rows

#: accuracy points behind the benchmark's best validation accuracy that count as "got there"
TARGETS = (0.01, 0.005)
NA_SURROGATE = "n/a: not modelled"


class ConfusionSource:
    """Class metrics of a configuration (by id) at the largest budget, from recorded confusion matrices.

    ``metrics(config_id)`` returns ``test_precision``, ``test_recall``, ``test_f1`` (averaged over
    the recorded seeds) and ``test_confusion`` (summed), or None; ``epoch`` is the epoch the
    matrices belong to and ``labels`` the class names."""

    def __init__(self, lookup: Any, epoch: int, labels: list[str]):
        self._lookup, self.epoch, self.labels = lookup, int(epoch), labels

    def metrics(self, config_id: str) -> dict[str, Any] | None:
        return self._lookup(config_id)


def _labels(meta: dict[str, Any], k: int) -> list[str]:
    classes = meta.get("classes")
    return [str(c) for c in classes] if isinstance(classes, list) and len(classes) == k else [str(i) for i in range(k)]


def _tabular_source(obj_info: dict[str, Any]) -> tuple[ConfusionSource | None, str]:
    path = obj_info.get("path")
    if not path or not Path(path).is_file():
        return None, "n/a: table file not found"
    from mfbench.core.errors import UsageError
    from mfbench.objectives.tabular import TabularObjective

    try:
        obj = TabularObjective(path, noise="mean", allow_partial=True)
    except (UsageError, OSError, ValueError) as exc:
        return None, f"n/a: table unreadable ({exc.__class__.__name__})"
    want = obj_info.get("data_sha256")
    if want:
        from mfbench.surrogates.data import table_digest

        if table_digest(obj.table) != want:
            return None, "n/a: table changed since the replay"
    if obj._test_cm is None or np.isnan(obj._test_cm).all():
        return None, "n/a: no confusion matrices recorded"

    def lookup(cid: str) -> dict[str, Any] | None:
        i = obj._id_index.get(cid)
        return None if i is None else obj.class_metrics(obj.configs[i])

    return ConfusionSource(lookup, obj.max_budget, _labels(obj.table.meta, obj._test_cm.shape[-1])), ""


def _real_source(obj_info: dict[str, Any]) -> tuple[ConfusionSource | None, str]:
    """A ``tune`` run's trainings: the runs of each configuration whose schedule is the largest budget."""
    import json
    import sqlite3

    from mfbench.core.io import connect_readonly
    from mfbench.training.classmetrics import macro_prf

    db, budgets = obj_info.get("db"), obj_info.get("budgets") or []
    if not db or not Path(db).is_file() or not budgets:
        return None, "n/a: trainings database not found"
    top = int(max(budgets))
    con = connect_readonly(db)
    try:
        rows = con.execute(
            "SELECT config_id, test_confusion FROM runs WHERE status = 'ok' AND schedule_epochs = ?", (top,)
        ).fetchall()
    except sqlite3.Error as exc:
        return None, f"n/a: trainings database unreadable ({exc.__class__.__name__})"
    finally:
        con.close()
    cms: dict[str, list[np.ndarray]] = {}
    for cid, text in rows:
        cm = json.loads(text) if text else None
        if cm:
            cms.setdefault(str(cid), []).append(np.asarray(cm, dtype=float))
    if not cms:
        return None, "n/a: no confusion matrices recorded"
    k = next(iter(cms.values()))[0].shape[0]

    def lookup(cid: str) -> dict[str, Any] | None:
        if cid not in cms:
            return None
        stack = np.stack(cms[cid])
        p, r, f = (float(np.mean(x)) for x in macro_prf(stack))
        return {
            "test_precision": p,
            "test_recall": r,
            "test_f1": f,
            "test_confusion": stack.sum(axis=0).astype(int).tolist(),
            "epoch": top,
            "n_seeds": len(stack),
        }

    return ConfusionSource(lookup, top, [str(i) for i in range(k)]), ""


def class_metric_source(manifest: dict[str, Any], benchmark: str) -> tuple[ConfusionSource | None, str]:
    """Where a benchmark's incumbents get their class metrics, or why they get none.

    A tabular benchmark: its table, if still where the replay found it with the same data
    digest. A real (``tune``) benchmark: its trainings database. Anything else gets a reason to
    show in the cells (a surrogate does not model confusion matrices).
    """
    info = (manifest.get("benchmarks") or {}).get(benchmark) or {}
    kind = str(info.get("kind", ""))
    obj_info = info.get("objective") or {}
    if kind == "tabular":
        return _tabular_source(obj_info)
    if kind == "real":
        return _real_source(obj_info)
    return None, NA_SURROGATE if kind in (
        "surrogate",
        "lcbench",
        "yahpo",
        "synthetic",
    ) else f"n/a: {kind or 'unknown'} benchmark"


def _first_time(t: np.ndarray, inc_val: np.ndarray, threshold: float) -> float:
    hit = np.flatnonzero(inc_val <= threshold + 1e-12)
    return float(t[hit[0]]) if hit.size else math.inf


def run_finals(replay: Any, sources: dict[str, tuple[Any | None, str]] | None = None) -> pd.DataFrame:
    """One row per analysed (benchmark, optimizer, seed): the final incumbent and the run's costs."""
    traj = replay.trajectories
    rows = []
    for (b, o, s), g in traj.groupby(["benchmark", "optimizer", "seed"], sort=False):
        last = g.iloc[-1]
        info = (replay.manifest.get("benchmarks") or {}).get(b) or {}
        best_val = float((info.get("optimum") or {}).get("val_error", math.nan))
        inc_val = g["incumbent_val_error"].to_numpy(dtype=float)
        t = g["sim_time"].to_numpy(dtype=float)
        row = {
            "benchmark": b,
            "optimizer": o,
            "seed": int(s),
            "framework": framework_of(o),
            "incumbent_config_id": str(last.get("incumbent_config_id", "")),
            "val_acc": 1.0 - float(last["incumbent_val_error"]),
            "test_acc": 1.0 - float(last["incumbent_test_error"]),
            "evaluations": len(g),
            "epochs": int(last["epochs_used"]),
            "overhead_per_eval_s": float(g["overhead_seconds"].mean()) if "overhead_seconds" in g else math.nan,
            "repeats": int(g["repeat"].sum()) if "repeat" in g else 0,
        }
        row["normalized_regret"] = float(last["normalized_regret"])
        frac = g["budget_fraction"].to_numpy(dtype=float)
        for d in TARGETS:
            row[f"time_to_{d:g}"] = _first_time(t, np.nan_to_num(inc_val, nan=math.inf), best_val + d)
            row[f"fraction_to_{d:g}"] = _first_time(frac, np.nan_to_num(inc_val, nan=math.inf), best_val + d)
        src = (sources or {}).get(b, (None, NA_SURROGATE))[0]
        cm = src.metrics(row["incumbent_config_id"]) if src is not None else None
        for k in ("test_precision", "test_recall", "test_f1"):
            row[k] = cm[k] if cm else math.nan
        row["test_confusion"] = cm["test_confusion"] if cm else None
        rows.append(row)
    for b, o, s in sorted(getattr(replay, "empty_runs", ())):
        rows.append(_empty_run_row(b, o, s))
    return pd.DataFrame(rows)


def _empty_run_row(benchmark: str, optimizer: str, seed: int) -> dict[str, Any]:
    """The final row of a run that ended without any evaluation: no incumbent (accuracies and
    precision are NaN, so the table's means are over the runs that have one, and say so), regret
    1.0, no target reached, nothing spent on evaluations."""
    row: dict[str, Any] = {
        "benchmark": benchmark,
        "optimizer": optimizer,
        "seed": int(seed),
        "framework": framework_of(optimizer),
        "incumbent_config_id": "",
        "val_acc": math.nan,
        "test_acc": math.nan,
        "evaluations": 0,
        "epochs": 0,
        "overhead_per_eval_s": math.nan,
        "repeats": 0,
        "normalized_regret": 1.0,
        "test_precision": math.nan,
        "test_recall": math.nan,
        "test_f1": math.nan,
        "test_confusion": None,
    }
    for d in TARGETS:
        row[f"time_to_{d:g}"] = row[f"fraction_to_{d:g}"] = math.inf
    return row


def _ms(v: np.ndarray, pct: bool = True) -> str:
    """Mean ± standard deviation over the runs that have a value; when some have none (a run
    that ended without an incumbent) the cell says over how many runs."""
    n = v.size
    v = v[np.isfinite(v)]
    if v.size == 0:
        return ""
    f = 100.0 if pct else 1.0
    sd = v.std(ddof=1) * f if v.size > 1 else 0.0
    part = f" ({v.size} of {n} runs)" if v.size < n else ""
    return f"{v.mean() * f:.2f} \u00b1 {sd:.2f}{part}"


def _time_cell(v: np.ndarray) -> str:
    frac = float(np.isfinite(v).mean())
    med = float(np.median(v))
    when = "not reached" if not math.isfinite(med) else (f"{med:.3g} s" if med < 100 else f"{med:.0f} s")
    return f"{when} ({100 * frac:.0f} %)"


COLUMNS = [
    "framework",
    "optimizer",
    "test acc %",
    "precision %",
    "recall %",
    "F1 %",
    "val acc %",
    "time to \u22641 pt",
    "time to \u22640.5 pt",
    "evaluations",
    "epochs",
    "overhead / eval",
    "repeats",
]


def accuracy_labels(manifest: dict[str, Any], benchmark: str) -> dict[str, str]:
    """The names of a benchmark's two accuracies, from the formulas its manifest gives its errors.

    LCBench's ``test_error`` is ``1 - test_balanced_accuracy`` (it has no plain test accuracy)
    while its ``val_error`` is ``1 - val_accuracy/100``: a column headed "test acc" would show
    57 % beside a validation accuracy of 99 % on an imbalanced task and read as a bug. A
    benchmark whose manifest says nothing (the CNN tables and surrogates) measures plain
    accuracy. Returns ``{"val_acc": ..., "test_acc": ...}``."""
    info = (manifest.get("benchmarks") or {}).get(benchmark) or {}
    formulas = ((info.get("objective") or {}).get("metrics")) or {}
    out = {"val_acc": "val acc", "test_acc": "test acc"}
    for key, error in (("val_acc", "val_error"), ("test_acc", "test_error")):
        m = re.fullmatch(r"\s*1\s*-\s*([A-Za-z_]+)\s*(?:/\s*100)?\s*", str(formulas.get(error, "")))
        if m:
            out[key] = m.group(1).replace("_", " ").replace("accuracy", "acc")
    return out


def framework_table(
    finals: pd.DataFrame, benchmark: str, na_reason: str = "", labels: dict[str, str] | None = None
) -> tuple[list[str], list[list[str]], str]:
    """The rows of one benchmark's framework table (frameworks in a fixed order, optimizers by name).

    ``labels``: the accuracies' names (``accuracy_labels``). Precision, recall and F1 columns that
    no row has (a benchmark without confusion matrices) are left out, and the returned note says
    why, once, instead of in every cell of three columns."""
    sub = finals[finals["benchmark"] == benchmark]
    order = {f: i for i, f in enumerate(FRAMEWORKS)}
    rows = []
    for (fw, o), g in sorted(
        sub.groupby(["framework", "optimizer"]), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])
    ):
        cls = [_ms(g[k].to_numpy(dtype=float)) for k in ("test_precision", "test_recall", "test_f1")]
        rows.append(
            [
                fw,
                o,
                _ms(g["test_acc"].to_numpy(dtype=float)),
                *cls,
                _ms(g["val_acc"].to_numpy(dtype=float)),
                *(_time_cell(g[f"time_to_{d:g}"].to_numpy(dtype=float)) for d in TARGETS),
                f"{g['evaluations'].mean():.1f}",
                f"{g['epochs'].mean():.0f}",
                f"{1000 * g['overhead_per_eval_s'].mean():.3g} ms",
                f"{g['repeats'].mean():.1f}",
            ]
        )
    head = list(COLUMNS)
    names = {"val_acc": "val acc", "test_acc": "test acc", **(labels or {})}
    head[head.index("test acc %")] = f"{names['test_acc']} %"
    head[head.index("val acc %")] = f"{names['val_acc']} %"
    class_cols = [COLUMNS.index(c) for c in ("precision %", "recall %", "F1 %")]
    if rows and all(r[i] == "" for r in rows for i in class_cols):
        keep = [i for i in range(len(head)) if i not in class_cols]
        why = (na_reason or "n/a").removeprefix("n/a").lstrip(": ")
        note = f"Precision, recall and F1: n/a ({why})." if why else "Precision, recall and F1: n/a."
        return [head[i] for i in keep], [[r[i] for i in keep] for r in rows], note
    na = na_reason or "n/a"
    rows = [[(c or na) if i in class_cols else c for i, c in enumerate(r)] for r in rows]
    return head, rows, ""


def best_confusions(finals: pd.DataFrame, benchmark: str) -> list[dict[str, Any]]:
    """Per framework, the run whose final incumbent has the best validation accuracy (the
    optimized metric; test accuracy breaks ties), with its confusion matrix normalized per true class."""
    sub = finals[(finals["benchmark"] == benchmark) & finals["test_confusion"].notna()]
    out = []
    order = {f: i for i, f in enumerate(FRAMEWORKS)}
    for fw, g in sorted(sub.groupby("framework"), key=lambda kv: order.get(kv[0], 99)):
        r = g.sort_values(["val_acc", "test_acc"], ascending=False, kind="stable").iloc[0]
        cm = np.asarray(r["test_confusion"], dtype=float)
        out.append(
            {
                "framework": fw,
                "optimizer": r["optimizer"],
                "seed": int(r["seed"]),
                "config_id": r["incumbent_config_id"],
                "val_acc": float(r["val_acc"]),
                "test_acc": float(r["test_acc"]),
                "confusion": cm.astype(int).tolist(),
                "normalized": normalize_rows(cm).tolist(),
            }
        )
    return out


POOLED_COLUMNS = [
    "framework",
    "optimizer",
    "benchmarks",
    "mean rank",
    "normalized regret",
    "reached \u22641 pt",
    "reached \u22640.5 pt",
    "budget to \u22641 pt",
    "overhead / eval",
    "repeats %",
]


def pooled_table(finals: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The framework table pooled over benchmarks, in the metrics that are comparable across them.

    Accuracies, precision and recall are not: a point of accuracy means something else on
    each task, so they stay in the per-benchmark tables. Pooled, with every benchmark
    weighted equally whatever its number of seeds:

    - mean rank: within each (benchmark, seed) the optimizers ranked by final normalized regret
      (1 = best, ties share), averaged over seeds, then over benchmarks;
    - normalized regret: final, mean over seeds, then over benchmarks;
    - reached: the fraction of all runs whose incumbent got within 1 / 0.5 accuracy points of
      their benchmark's best;
    - budget to within 1 point: the fraction of its budget a run had spent when it got there,
      median over all runs (a run that never got there counts as infinitely late);
    - overhead per evaluation (mean over runs) and repeated evaluations as a share of all.

    Benchmarks where some optimizer lacks a run are left out (ranks need every optimizer).
    """
    opts = sorted(finals["optimizer"].unique())
    complete = [b for b, g in finals.groupby("benchmark") if set(g["optimizer"]) == set(opts)]
    sub = finals[finals["benchmark"].isin(complete)].copy()
    if len(complete) < 2:
        return POOLED_COLUMNS, []
    sub["rank"] = sub.groupby(["benchmark", "seed"])["normalized_regret"].rank(method="average")
    per_bench = sub.groupby(["optimizer", "benchmark"])[["rank", "normalized_regret"]].mean()
    pooled = per_bench.groupby("optimizer").mean()
    order = {f: i for i, f in enumerate(FRAMEWORKS)}
    rows = []
    for (fw, o), g in sorted(
        sub.groupby(["framework", "optimizer"]), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])
    ):
        reached = [
            f"{100 * float(np.isfinite(g[f'time_to_{d:g}'].to_numpy(dtype=float)).mean()):.0f} %" for d in TARGETS
        ]
        median = float(np.median(g["fraction_to_0.01"].to_numpy(dtype=float)))
        when = "not reached" if not math.isfinite(median) else f"{100 * median:.0f} %"
        share = g["repeats"].sum() / max(int(g["evaluations"].sum()), 1)
        rows.append(
            [
                fw,
                o,
                str(g["benchmark"].nunique()),
                f"{pooled.loc[o, 'rank']:.2f}",
                f"{pooled.loc[o, 'normalized_regret']:.4f}",
                *reached,
                when,
                f"{1000 * g['overhead_per_eval_s'].mean():.3g} ms",
                f"{100 * share:.0f} %",
            ]
        )
    return POOLED_COLUMNS, rows
