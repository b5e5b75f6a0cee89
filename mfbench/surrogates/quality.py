"""How faithful a surrogate is, slice by slice.

Pooled numbers hide failures (a surrogate can rank 0.95 pooled and 0.17 on its worst slice),
so every slice is reported: each budget x each architecture family, each budget over all
families, the pooled scratch rows, and the ``continue`` rows (prefixes of the longest run).
Metrics: R^2, Spearman, Kendall tau (scipy / scikit-learn), and the regret of the
surrogate's argmin: the true value of the config the surrogate ranks first among the held-out
configs of the slice, minus the best true value there. Beside them, the slice's noise ceiling:
the Spearman of one seed against the mean of the others (see ``seed_spearman``), and the
coverage of the noise model: the share of the table's per-seed values inside the 80 % interval
of the distribution the surrogate objective samples from (see ``noise_coverage``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

SLICE_METRICS = ("n", "r2", "spearman", "kendall", "regret", "seed_spearman", "coverage")
SLICE_HEADERS = ("n", "R²", "Spearman", "Kendall τ", "regret", "1-seed Spearman", "80 % coverage")
#: the central share of the sampled noise whose coverage is reported (and gated)
COVERAGE_LEVEL = 0.8


def slice_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from scipy.stats import kendalltau, spearmanr
    from sklearn.metrics import r2_score

    ok = np.isfinite(y) & np.isfinite(pred)
    y, pred = y[ok], pred[ok]
    out: dict[str, float] = {"n": int(y.size)}
    if y.size < 2:
        return out | {"r2": math.nan, "spearman": math.nan, "kendall": math.nan, "regret": 0.0 if y.size else math.nan}
    constant = np.ptp(y) == 0 or np.ptp(pred) == 0
    out["r2"] = float(r2_score(y, pred)) if np.ptp(y) > 0 else math.nan
    out["spearman"] = math.nan if constant else float(spearmanr(y, pred).statistic)
    out["kendall"] = math.nan if constant else float(kendalltau(y, pred).statistic)
    out["regret"] = float(y[int(np.argmin(pred))] - y.min())
    return out


def slices(
    epoch: np.ndarray, schedule: np.ndarray, arch: np.ndarray, budgets: Sequence[int]
) -> list[tuple[str, np.ndarray]]:
    """(label, row mask) of every slice, in report order."""
    out: list[tuple[str, np.ndarray]] = []
    scratch = epoch == schedule
    families = sorted({str(a) for a in arch})
    for b in budgets:
        at_b = scratch & (epoch == b)
        if len(families) > 1:
            for fam in families:
                out.append((f"b={b} {fam}", at_b & (arch == fam)))
        out.append((f"b={b} all", at_b))
    out.append(("pooled scratch", scratch))
    cont = (schedule == max(budgets)) & (epoch < schedule)
    if cont.any():
        out.append(("pooled continue", cont))
    return out


def seed_spearman(y_seeds: np.ndarray) -> float:
    """The noise ceiling of a slice: how well one training ranks its configs like the mean of
    the other seeds (Spearman, averaged over the seeds; rows with every seed only). A surrogate
    below it is limited by its model and data, not by the table's noise."""
    from scipy.stats import spearmanr

    Y = y_seeds[np.isfinite(y_seeds).all(axis=1)] if y_seeds.ndim == 2 else np.zeros((0, 0))
    if Y.shape[0] < 3 or Y.shape[1] < 2:
        return math.nan
    vals = []
    for s in range(Y.shape[1]):
        a, b = Y[:, s], np.delete(Y, s, axis=1).mean(axis=1)
        if np.ptp(a) > 0 and np.ptp(b) > 0:
            vals.append(float(spearmanr(a, b).statistic))
    return float(np.mean(vals)) if vals else math.nan


def noise_interval(mean: np.ndarray, std: np.ndarray, level: float = COVERAGE_LEVEL) -> tuple[np.ndarray, ...]:
    """The central ``level`` interval of what ``SurrogateObjective`` draws at a ladder point:
    ``clip(mean + std * z, 0, 1)`` with ``z ~ N(0, 1)`` (std <= 0: no noise, the mean itself).
    Clipping is monotone, so the clipped quantiles are the quantiles of the clipped draw."""
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))
    std = np.maximum(np.asarray(std, dtype=np.float64), 0.0)
    mean = np.asarray(mean, dtype=np.float64)
    return np.clip(mean - z * std, 0.0, 1.0), np.clip(mean + z * std, 0.0, 1.0)


def noise_coverage(y_seeds: np.ndarray, mean: np.ndarray, std: np.ndarray, level: float = COVERAGE_LEVEL) -> float:
    """Share of the per-seed values ``y_seeds`` (rows x seeds, NaN where a seed has no run)
    inside the central ``level`` interval of the noise sampled around ``mean`` with ``std``
    (one per row, out-of-fold); 0.8 for an 80 % interval when the noise model is right."""
    Y = np.asarray(y_seeds, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[0] == 0:
        return math.nan
    lo, hi = noise_interval(mean, std, level)
    ok = np.isfinite(Y) & np.isfinite(lo)[:, None] & np.isfinite(hi)[:, None]
    if not ok.any():
        return math.nan
    inside = (Y >= lo[:, None]) & (Y <= hi[:, None])
    return float(inside[ok].mean())


def quality_table(
    y: np.ndarray,
    pred: np.ndarray,
    epoch: np.ndarray,
    schedule: np.ndarray,
    arch: np.ndarray,
    budgets: Sequence[int],
    y_seeds: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """One row per slice (the noise coverage is added by ``surrogates.fit.add_coverage``, which
    clips the mean as the objective does)."""
    rows = []
    for label, m in slices(epoch, schedule, arch, budgets):
        row = {"slice": label, **slice_metrics(y[m], pred[m])}
        row["seed_spearman"] = seed_spearman(y_seeds[m]) if y_seeds is not None else math.nan
        rows.append(row)
    return rows


def rank_score(rows: list[dict[str, Any]], budgets: Sequence[int]) -> float:
    """Mean over budgets of the within-budget Spearman: what model selection maximizes for
    the error targets (an optimizer compares configs at one budget at a time)."""
    vals = [r["spearman"] for r in rows if r["slice"] in {f"b={b} all" for b in budgets}]
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else math.nan


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return "—" if not math.isfinite(v) else f"{v:.3f}"
    return str(v)


def to_markdown(report: dict[str, Any]) -> str:
    """``quality.md``: the family comparison, then every slice of every chosen model."""
    lines = [
        f"# Surrogate quality: {report.get('name', '')}",
        "",
        f"Training table `{report.get('table', '')}`: {report.get('n_configs', '?')} configs, "
        f"{report.get('n_rows', '?')} rows; {report.get('folds', '?')}-fold cross-validation grouped by "
        "configuration (out-of-fold predictions: no configuration is in both training and test).",
        "",
    ]
    for target, t in report["targets"].items():
        lines += [
            f"## {target}: chosen `{t['chosen']}` ({t['criterion']})",
            "",
            "| family | criterion | pooled R² | pooled Spearman | fit s |",
            "|---|---|---|---|---|",
        ]
        for fam, f in t["families"].items():
            lines.append(
                f"| {fam} | {fmt(f['criterion'])} | {fmt(f['pooled'].get('r2'))} | "
                f"{fmt(f['pooled'].get('spearman'))} | {fmt(f.get('seconds'))} |"
            )
        if t.get("slices"):
            lines += ["", "| slice | " + " | ".join(SLICE_HEADERS) + " |", "|---" * (len(SLICE_HEADERS) + 1) + "|"]
            for r in t["slices"]:
                lines.append("| " + " | ".join(fmt(r.get(k)) for k in ("slice", *SLICE_METRICS)) + " |")
        lines.append("")
    return "\n".join(lines)


def print_rich(report: dict[str, Any], targets: Sequence[str] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for target, t in report["targets"].items():
        if targets is not None and target not in targets:
            continue
        fam = Table(title=f"{target}: families ({t['criterion']})")
        for col in ("family", "criterion", "pooled R²", "pooled Spearman", "fit s"):
            fam.add_column(col, justify="right" if col != "family" else "left")
        for name, f in t["families"].items():
            mark = " *" if name == t["chosen"] else ""
            fam.add_row(
                name + mark,
                fmt(f["criterion"]),
                fmt(f["pooled"].get("r2")),
                fmt(f["pooled"].get("spearman")),
                fmt(f.get("seconds")),
            )
        console.print(fam)
        if t.get("slices"):
            tab = Table(title=f"{target}: {t['chosen']}, out-of-fold, per slice")
            for col in ("slice", *SLICE_HEADERS):
                tab.add_column(col, justify="right" if col != "slice" else "left", no_wrap=col == "slice")
            for r in t["slices"]:
                style = "red" if isinstance(r.get("spearman"), float) and r["spearman"] < 0.9 else None
                tab.add_row(*(fmt(r.get(k)) for k in ("slice", *SLICE_METRICS)), style=style)
            console.print(tab)
