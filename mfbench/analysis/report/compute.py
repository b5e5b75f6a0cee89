"""The numbers of a report: score tables, curves, comparisons, final table, framework table.

``analyse`` computes everything the report shows from a loaded study, writes the numbers behind
every figure under ``data/`` and the figures under ``figures/`` (analysis/plots.py draws them),
and returns them as ``Results`` for ``sections.build_report`` to put into words. Rules:

- Metric: the incumbent's normalized regret (lower is better) at a budget fraction ``f`` is the
  value of the run's last trajectory row with ``budget_fraction <= f``; a run with no row yet
  (or no incumbent yet) counts as 1.0, the worst value; so does a run that ended without any
  evaluation (``StudyData.empty_runs``), at every fraction.
- Blocks: the benchmarks (seed-averaged) when there are at least ``min_benchmark_blocks`` of
  them; otherwise the seeds of each benchmark, one diagram per benchmark.

A figure's caption is written here, with the figure, once for both formats.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sst

from mfbench.analysis.report.load import RUN_KEY, StudyData
from mfbench.core.errors import UsageError

GRID_POINTS = 200
FRACTION_TOL = 1e-9


def _step(x: np.ndarray, v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Value of the last point with x <= grid (a step function); 1.0 before the first one."""
    idx = np.searchsorted(x, grid, side="right") - 1
    return np.where(idx >= 0, v[np.clip(idx, 0, None)], 1.0)


def _run_arrays(replay: StudyData, benchmark: str, column: str) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """Per (optimizer, seed) run of a benchmark: (x = running max of ``column``, normalized regret).

    The report evaluates these step functions on several grids (each budget fraction, the anytime
    grids, the rank grid); grouping the trajectories once per (benchmark, column) instead of once
    per grid was most of the time of ``curves``. Cached on ``replay`` (its trajectories are not
    changed after ``load_study``); the cache is keyed by the trajectories' identity as well, so a
    replaced frame is grouped anew.
    """
    key = (id(replay.trajectories), benchmark, column)
    cached = replay.cache.get(key)
    if cached is not None:
        return cached
    t = replay.trajectories
    t = t[t["benchmark"] == benchmark]
    xs = t[column].to_numpy(dtype=float)
    vs = t["normalized_regret"].to_numpy(dtype=float)
    runs = {
        k: (np.maximum.accumulate(xs[idx]), vs[idx])  # running max: guard against float jitter
        for k, idx in t.groupby(["optimizer", "seed"], sort=False).indices.items()
    }
    replay.cache[key] = runs
    return runs


def curves(replay: StudyData, benchmark: str, column: str, grid: np.ndarray) -> np.ndarray:
    """Normalized regret of every (optimizer, paired seed) run of a benchmark on a grid: (O, S, G)."""
    runs = _run_arrays(replay, benchmark, column)
    seeds = replay.seeds[benchmark]
    out = np.empty((len(replay.optimizers), len(seeds), len(grid)))
    for i, o in enumerate(replay.optimizers):
        for j, s in enumerate(seeds):
            run = runs.get((o, s))
            if run is None:  # a usable run without rows ended before its first result (load_study)
                if (benchmark, o, s) not in replay.empty_runs:
                    raise KeyError(f"no trajectory for {(benchmark, o, s)}")
                out[i, j] = 1.0
                continue
            x, v = run
            out[i, j] = _step(x, v, grid)
    return out


def values_at(replay: StudyData, fraction: float) -> dict[str, np.ndarray]:
    """Per benchmark, the (optimizers, seeds) normalized regret at a budget fraction."""
    grid = np.array([fraction + FRACTION_TOL])
    return {b: curves(replay, b, "budget_fraction", grid)[:, :, 0] for b in replay.benchmarks}


def score_tables(replay: StudyData, fraction: float, min_benchmark_blocks: int = 5) -> dict[str | None, pd.DataFrame]:
    """The blocks x optimizers tables that the statistics compare at one budget fraction.

    ``{None: benchmarks x optimizers}`` (seed-averaged) with at least ``min_benchmark_blocks``
    benchmarks, else ``{benchmark: seeds x optimizers}`` for each benchmark.
    """
    vals = values_at(replay, fraction)
    opts = replay.optimizers
    if len(replay.benchmarks) >= min_benchmark_blocks:
        return {None: pd.DataFrame({b: vals[b].mean(axis=1) for b in replay.benchmarks}, index=opts).T}
    return {
        b: pd.DataFrame(vals[b].T, index=[f"seed {s}" for s in replay.seeds[b]], columns=opts)
        for b in replay.benchmarks
    }


def seed_cube(replay: StudyData, fraction: float) -> tuple[np.ndarray, list[int]]:
    """The (benchmarks, seeds, optimizers) normalized regret at a budget fraction, on the seeds
    every benchmark has (the seed split pairs seed ``j`` across benchmarks)."""
    common = sorted(set.intersection(*(set(replay.seeds[b]) for b in replay.benchmarks))) if replay.benchmarks else []
    vals = values_at(replay, fraction)
    cube = np.empty((len(replay.benchmarks), len(common), len(replay.optimizers)))
    for i, b in enumerate(replay.benchmarks):
        cols = [list(replay.seeds[b]).index(s) for s in common]
        cube[i] = vals[b][:, cols].T
    return cube, common


def _mean_se(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = a.shape[1]
    mean = a.mean(axis=1)
    se = a.std(axis=1, ddof=1) / math.sqrt(n) if n > 1 else np.zeros_like(mean)
    return mean, se


def _grid(lo: float, hi: float) -> np.ndarray:
    lo = max(lo, 1e-12)
    hi = max(hi, lo * 1.0001)
    return np.geomspace(lo, hi, GRID_POINTS)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "x"


def fraction_label(f: float) -> str:
    """A budget fraction in words, as captions and the summary name it."""
    return f"{100 * f:g} % of the budget"


def power_note(comp) -> str:
    """Why a comparison with few blocks shows no significant pair (in a caption and the summary)."""
    if comp.min_wilcoxon_holm_p < comp.alpha:
        return ""
    return (
        f" With N = {comp.n_blocks} blocks and {len(comp.methods)} methods no pair can reach significance in the "
        f"Holm-corrected Wilcoxon tests: the smallest attainable adjusted p is {comp.min_wilcoxon_holm_p:.3g}."
    )


@dataclass
class FigureFile:
    """A saved figure: ``files`` from ``plots.save_figure`` (with its PNG as base64), the data
    files behind it (relative to the report's folder)."""

    stem: str
    caption: str
    files: dict[str, str]
    data: list[str]


@dataclass
class Results:
    """Everything the report says, as numbers and the paths of the files written."""

    replay: StudyData
    summary: dict[str, Any]
    comparisons: list[dict[str, Any]]
    figures: dict[str, list[FigureFile]]
    final: pd.DataFrame
    avg_rank: pd.Series
    final_csv: str
    excl_csv: str
    blocks_rule: str
    budgets: list[float]
    alpha: float
    floor: float
    fw_tables: list[tuple[str, list[str], list[list[str]], str]] = field(default_factory=list)
    fw_csv: str = ""
    pooled: tuple[list[str], list[list[str]]] = ([], [])


def analyse(
    replay: StudyData, out: Path, budgets: list[float], alpha: float, min_benchmark_blocks: int, floor: float
) -> Results:
    """Compute the report's numbers, write ``out/data/`` and ``out/figures/``; see the module docstring."""
    from mfbench.analysis import plots
    from mfbench.analysis.reproducibility import seed_split
    from mfbench.analysis.stats import compare_optimizers, rank_scores, split_half

    fig_dir, data_dir = out / "figures", out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    opts, benches = replay.optimizers, replay.benchmarks
    colors, styles = plots.framework_styles(opts)
    figures: dict[str, list[FigureFile]] = {"cd": [], "pairwise": [], "anytime": [], "rank": [], "confusion": []}
    summary: dict[str, Any] = {
        "run_dir": str(replay.run_dir),
        "alpha": alpha,
        "budgets": budgets,
        "floor": floor,
        "optimizers": opts,
        "benchmarks": benches,
        "seeds": {b: s for b, s in replay.seeds.items()},
    }

    def data_file(name: str, obj: pd.DataFrame | dict) -> str:
        path = data_dir / name
        if isinstance(obj, pd.DataFrame):
            obj.to_csv(path, index=False)
        else:
            path.write_text(json.dumps(obj, indent=2))
        return f"data/{name}"

    def figure(section: str, fig, stem: str, caption: str, data: list[str]) -> None:
        files = plots.save_figure(fig, fig_dir, stem)
        figures[section].append(FigureFile(stem, caption, files, data))

    # --- blocks rule and the comparisons at each budget fraction
    by_benchmarks = len(benches) >= min_benchmark_blocks
    blocks_rule = (
        f"blocks = the {len(benches)} benchmarks (normalized regret averaged over the paired seeds of each)"
        if by_benchmarks
        else f"blocks = the seeds of one benchmark (fewer than {min_benchmark_blocks} benchmarks: "
        f"{len(benches)}), one diagram per benchmark"
    )
    summary["blocks"] = "benchmarks" if by_benchmarks else "seeds"
    summary["blocks_rule"] = blocks_rule
    comparisons: list[dict[str, Any]] = []
    for f in budgets:
        for b, scores in score_tables(replay, f, min_benchmark_blocks).items():
            tag = f"f{f:g}" + (f"_{_slug(b)}" if b else "")
            where = fraction_label(f) + (f", {b}" if b else "")
            note = (
                f"blocks: {scores.shape[0]} benchmarks (seed-averaged)"
                if b is None
                else f"blocks: {scores.shape[0]} seeds of benchmark {b}"
            )
            scores_csv = data_file(f"scores_{tag}.csv", scores.rename_axis("block").reset_index())
            entry: dict[str, Any] = {"budget_fraction": f, "benchmark": b, "tag": tag, "blocks_note": note}
            try:
                comp = compare_optimizers(scores, higher_is_better=False, alpha=alpha)
            except UsageError as exc:
                entry["error"] = str(exc)
                comparisons.append(entry)
                continue
            rel = split_half(scores, block_word="benchmarks" if b is None else "seeds")
            # benchmarks as blocks: the halves above share the seeds; the seed split does not
            seeds_rel = seed_split(seed_cube(replay, f)[0]) if b is None else None
            seeds_dict = {"seed_split": seeds_rel.to_dict()} if seeds_rel is not None else {}
            stats_json = data_file(
                f"stats_{tag}.json",
                {
                    "budget_fraction": f,
                    "benchmark": b,
                    "metric": "normalized regret (lower is better)",
                    **comp.to_dict(),
                    "split_half": rel.to_dict(),
                    **seeds_dict,
                },
            )
            order = list(comp.average_ranks.sort_values().index)
            pmat = comp.wilcoxon_holm_p.loc[order, order]
            p_csv = data_file(f"pvalues_{tag}.csv", pmat.rename_axis("method").reset_index())
            entry.update({"comparison": comp, "stats": comp.to_dict(), "split_half": rel.to_dict(), **seeds_dict})
            comparisons.append(entry)
            figure(
                "cd",
                plots.plot_cd(
                    comp,
                    title=f"Critical difference at {where} (normalized regret)",
                    colors=colors,
                    blocks_note=note + "\n" + rel.short() + ("\n" + seeds_rel.short() if seeds_rel else ""),
                ),
                f"cd_{tag}",
                f"Average ranks at {where}; {note}. Lower rank = better. "
                f"Bars: Nemenyi CD at \u03b1 = {alpha:g}, drawn only if the Iman\u2013Davenport test rejects. "
                f"Would the verdict reproduce? {rel.reading()}" + (f"; {seeds_rel.reading()}." if seeds_rel else "."),
                [scores_csv, stats_json],
            )
            figure(
                "pairwise",
                plots.plot_pvalues(pmat, alpha=alpha, title=f"Pairwise Wilcoxon signed-rank at {where}"),
                f"pvalues_{tag}",
                f"Holm-adjusted two-sided Wilcoxon signed-rank p-values at {where} "
                f"({note}; zero differences split)." + power_note(comp),
                [p_csv, stats_json],
            )
    summary["comparisons"] = [{k: v for k, v in c.items() if k != "comparison"} for c in comparisons]

    # --- anytime curves per benchmark
    for b in benches:
        t = replay.trajectories[replay.trajectories["benchmark"] == b]
        secs = (replay.manifest.get("budget", {}).get("seconds", {}) or {}).get(b)
        tpos = t["sim_time"][t["sim_time"] > 0]
        # grids start a little before the first result, where every curve is still at 1.0
        tgrid = _grid(
            0.5 * float(tpos.min()) if len(tpos) else 1.0, max(float(secs or 0.0), float(t["sim_time"].max()))
        )
        epos = t["epochs_used"][t["epochs_used"] > 0]
        egrid = _grid(0.5 * float(epos.min()) if len(epos) else 1.0, float(t["epochs_used"].max()))
        panels, files = [], []
        for col, xlabel, grid in (
            ("sim_time", "simulated time (s, log)", tgrid),
            ("epochs_used", "epochs used (cumulative training epochs, log)", egrid),
        ):
            arr = curves(replay, b, col, grid)
            mean, se = _mean_se(arr)
            frame = pd.DataFrame(
                {
                    "x": np.tile(grid, len(opts)),
                    "method": np.repeat(opts, len(grid)),
                    "mean": mean.ravel(),
                    "se": se.ravel(),
                    "n_seeds": arr.shape[1],
                }
            )
            files.append(data_file(f"anytime_{col}_{_slug(b)}.csv", frame))
            panels.append((xlabel, frame))
        n_seeds = len(replay.seeds[b])
        figure(
            "anytime",
            plots.plot_anytime(b, panels, colors=colors, styles=styles, floor=floor, n_seeds=n_seeds),
            f"anytime_{_slug(b)}",
            f"{b}: incumbent normalized regret, mean \u00b1 standard error over {n_seeds} "
            f"seeds, against simulated time and against cumulative epochs (log axes; regret clipped at "
            f"{floor:g} for display; 1.0 before the first result). Colour: framework; dash and shade: algorithm.",
            files,
        )
        figure(
            "anytime",
            plots.plot_anytime_by_framework(b, panels[0][0], panels[0][1], floor=floor, n_seeds=n_seeds),
            f"anytime_frameworks_{_slug(b)}",
            f"{b}: the same curves against simulated time, one panel per "
            "framework; every other optimizer in grey as the shared reference.",
            files[:1],
        )

    # --- average rank over time (budget fraction, common to all benchmarks)
    firsts = replay.trajectories.groupby(RUN_KEY, sort=False)["budget_fraction"].min()
    lo = float(firsts[firsts > 0].min()) if (firsts > 0).any() else 1e-3
    fgrid = _grid(max(0.5 * lo, 1e-4), 1.0)
    per_bench = {b: curves(replay, b, "budget_fraction", fgrid + FRACTION_TOL) for b in benches}
    if by_benchmarks:
        blocks = np.stack([per_bench[b].mean(axis=1) for b in benches])  # (B, O, G)
        rank_note = f"across {len(benches)} benchmarks (seed-averaged regret ranked per benchmark)"
    else:
        blocks = np.concatenate([per_bench[b].transpose(1, 0, 2) for b in benches])  # (sum seeds, O, G)
        rank_note = f"across {blocks.shape[0]} (benchmark, seed) blocks ({len(benches)} benchmark(s))"
    mean_rank = sst.rankdata(blocks, method="average", axis=1).mean(axis=0)  # (O, G)
    rframe = pd.DataFrame(
        {"x": np.tile(fgrid, len(opts)), "method": np.repeat(opts, len(fgrid)), "rank": mean_rank.ravel()}
    )
    rcsv = data_file("rank_over_time.csv", rframe)
    figure(
        "rank",
        plots.plot_rank_over_time(
            rframe,
            colors=colors,
            styles=styles,
            title=f"Average rank over time {rank_note}",
            xlabel="fraction of the replay budget (simulated time / total, log)",
        ),
        "rank_over_time",
        f"Average rank (1 = best) of the incumbent's normalized regret {rank_note}; ties share the average rank.",
        [rcsv],
    )

    # --- final table: median [IQR] at the full budget, average rank row
    final = values_at(replay, 1.0)
    rows = []
    for b in benches:
        for i, o in enumerate(opts):
            v = final[b][i]
            rows.append(
                {
                    "benchmark": b,
                    "optimizer": o,
                    "n_seeds": v.size,
                    "median": float(np.median(v)),
                    "q25": float(np.percentile(v, 25)),
                    "q75": float(np.percentile(v, 75)),
                    "mean": float(v.mean()),
                }
            )
    ftable = pd.DataFrame(rows)
    means = ftable.pivot(index="benchmark", columns="optimizer", values="mean").loc[benches, opts]
    avg_rank = rank_scores(means).mean(axis=0)
    final_csv = data_file("final_table.csv", ftable)
    data_file("final_average_rank.csv", avg_rank.rename("average_rank").rename_axis("optimizer").reset_index())

    # --- framework table and confusion matrices of each framework's best final incumbent
    from mfbench.analysis.framework_table import (
        accuracy_labels,
        best_confusions,
        class_metric_source,
        framework_table,
        pooled_table,
        run_finals,
    )

    sources = {b: class_metric_source(replay.manifest, b) for b in benches}
    finals = run_finals(replay, sources)
    fw_tables = []
    for b in benches:
        head, fw_rows, fw_note = framework_table(finals, b, sources[b][1], accuracy_labels(replay.manifest, b))
        fw_tables.append((b, head, fw_rows, fw_note))
        best = best_confusions(finals, b)
        if best:
            src = sources[b][0]
            labels = src.labels if src is not None else [str(i) for i in range(len(best[0]["normalized"]))]
            cjson = data_file(
                f"confusion_{_slug(b)}.json",
                {"benchmark": b, "labels": labels, "panels": best, "epoch": src.epoch if src is not None else None},
            )
            figure(
                "confusion",
                plots.plot_confusions(
                    best,
                    labels=labels,
                    title=f"{b}: test confusion of each framework's best final incumbent (% of the true class)",
                ),
                f"confusion_{_slug(b)}",
                f"{b}: test-set confusion matrix of the final incumbent with the best "
                "validation accuracy among each framework's runs, summed over the table's training seeds of its "
                f"full-length runs (epoch {src.epoch if src is not None else '?'}, the largest budget), "
                "normalized per true class (rows).",
                [cjson],
            )
    fw_csv = data_file("framework_runs.csv", finals.drop(columns=["test_confusion"]))
    summary["framework_table"] = {b: [dict(zip(head, r)) for r in fw_rows] for b, head, fw_rows, _ in fw_tables}
    pooled = pooled_table(finals)
    summary["framework_table_pooled"] = [dict(zip(pooled[0], r)) for r in pooled[1]]

    # --- exclusions and manifest
    excl_csv = data_file("exclusions.csv", replay.exclusions)
    summary["exclusions"] = replay.exclusions.to_dict(orient="records")
    summary["dropped_benchmarks"] = replay.dropped_benchmarks
    summary["dropped_optimizers"] = replay.dropped_optimizers
    summary["final_average_rank"] = {o: float(r) for o, r in avg_rank.items()}
    data_file("summary.json", summary)

    return Results(
        replay,
        summary,
        comparisons,
        figures,
        ftable,
        avg_rank,
        final_csv,
        excl_csv,
        blocks_rule,
        budgets,
        alpha,
        floor,
        fw_tables,
        fw_csv,
        pooled,
    )
