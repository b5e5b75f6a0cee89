"""The report of a replay: CD diagrams, pairwise tests, anytime curves, tables, manifest.

``write_report(run_dir)`` reads ``run_dir/manifest.json`` and the trajectories (the per-run
files under ``runs/`` when present, they are written atomically; else
``trajectories.parquet``) and writes ``index.html`` (figures inlined as base64 PNG, with PNG
and SVG beside it), ``report.md`` and the numbers behind every figure under ``data/``.

Rules, stated in the report itself:

- A run is used only if it finished (not failed, not missing). An optimizer with no usable run
  at all is left out. Within a benchmark only seeds on which every remaining optimizer has a
  usable run are kept (paired design); everything left out is listed with its reason.
- Metric: the incumbent's normalized regret (lower is better) at a budget fraction ``f`` is the
  value of the run's last trajectory row with ``budget_fraction <= f``; a run with no row yet
  (or no incumbent yet) counts as 1.0, the worst value.
- Blocks: the benchmarks (seed-averaged) when there are at least ``min_benchmark_blocks`` of
  them; otherwise the seeds of each benchmark, one diagram per benchmark.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sst

from mfbench.core.errors import UsageError, read_json

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("benchmark", "optimizer", "seed", "sim_time", "budget_fraction", "epochs_used", "normalized_regret")
RUN_KEY = ["benchmark", "optimizer", "seed"]
GRID_POINTS = 200
FRACTION_TOL = 1e-9


@dataclass
class StudyData:
    """A replay directory reduced to what the report analyses, and what it left out."""

    run_dir: Path
    manifest: dict[str, Any]
    trajectories: pd.DataFrame  # usable runs only, sorted by sim_time within each run
    benchmarks: list[str]
    optimizers: list[str]
    seeds: dict[str, list[int]]  # per benchmark: the paired seeds analysed
    exclusions: pd.DataFrame  # benchmark, optimizer, seed, reason
    dropped_benchmarks: dict[str, str] = field(default_factory=dict)
    dropped_optimizers: dict[str, str] = field(default_factory=dict)
    n_expected_runs: int = 0


def _read_trajectories(run_dir: Path) -> pd.DataFrame:
    per_run = sorted((run_dir / "runs").glob("*.parquet")) if (run_dir / "runs").is_dir() else []
    try:
        if per_run:
            frames = [pd.read_parquet(p) for p in per_run]
            return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if (run_dir / "trajectories.parquet").is_file():
            return pd.read_parquet(run_dir / "trajectories.parquet")
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on a corrupt file
        raise UsageError(f"{run_dir}: unreadable trajectory file ({exc.__class__.__name__})") from None
    return pd.DataFrame(columns=list(REQUIRED_COLUMNS))


def load_study(run_dir: str | Path) -> StudyData:
    """Read a replay directory and decide which runs the report analyses (see module docstring)."""
    run_dir = Path(run_dir)
    mpath = run_dir / "manifest.json"
    if not mpath.is_file():
        raise UsageError(f"{run_dir}: not a replay directory (no manifest.json)")
    manifest = read_json(mpath)
    from mfbench.studies.replay import check_study_manifest

    check_study_manifest(mpath, manifest)
    traj = _read_trajectories(run_dir)
    missing_cols = [c for c in REQUIRED_COLUMNS if c not in traj.columns]
    if missing_cols:
        raise UsageError(f"{run_dir}: trajectories lack column(s) {', '.join(missing_cols)}")
    traj = traj.astype({"benchmark": str, "optimizer": str, "seed": int})
    traj["normalized_regret"] = traj["normalized_regret"].astype(float).fillna(1.0)
    # completion order within a run; a stable sort keeps the file order of simultaneous completions
    traj = traj.sort_values(["benchmark", "optimizer", "seed", "sim_time"], kind="stable").reset_index(drop=True)

    def keyed(rows: list[dict]) -> dict[tuple, dict]:
        return {(str(r.get("benchmark")), str(r.get("optimizer")), int(r.get("seed"))): r for r in rows or []}

    runs, failures = keyed(manifest.get("runs", [])), keyed(manifest.get("failures", []))
    have = set(traj[RUN_KEY].drop_duplicates().itertuples(index=False, name=None))
    benchmarks = list(
        dict.fromkeys([*manifest.get("benchmarks", {}), *traj["benchmark"].unique(), *(k[0] for k in runs)])
    )
    optimizers = list(
        dict.fromkeys([*manifest.get("optimizers", {}), *traj["optimizer"].unique(), *(k[1] for k in runs)])
    )
    seeds = sorted({int(s) for s in manifest.get("seeds", [])} | {k[2] for k in have} | {k[2] for k in runs})
    by_bench = manifest.get("seeds_by_benchmark") if isinstance(manifest.get("seeds_by_benchmark"), dict) else {}

    def seeds_of(b: str) -> list[int]:
        """The seeds asked for on ``b`` (a study may give benchmarks different seeds) and any it ran."""
        if b not in by_bench:
            return seeds
        return sorted(
            {int(s) for s in by_bench[b]} | {k[2] for k in have if k[0] == b} | {k[2] for k in runs if k[0] == b}
        )

    excl: list[dict[str, Any]] = []
    usable: set[tuple] = set()
    for b in benchmarks:
        for o in optimizers:
            for s in seeds_of(b):
                key, run = (b, o, s), runs.get((b, o, s), {})
                status = run.get("status")
                if key in failures or status == "failed":
                    err = (failures.get(key) or {}).get("error") or run.get("error") or "no error message"
                    reason = f"failed: {err}"
                elif status not in (None, "ok"):
                    reason = f"status {status!r}: {run.get('error') or 'no error message'}"
                elif key not in have:
                    reason = (
                        "missing: listed as ok in the manifest but has no trajectory rows"
                        if status == "ok"
                        else "missing: no trajectory (not run)"
                    )
                else:
                    usable.add(key)
                    continue
                excl.append({"benchmark": b, "optimizer": o, "seed": s, "reason": reason})
    n_expected = len(optimizers) * sum(len(seeds_of(b)) for b in benchmarks)
    dropped_opt = {o: "no usable run on any benchmark" for o in optimizers if not any(k[1] == o for k in usable)}
    optimizers = [o for o in optimizers if o not in dropped_opt]
    paired: dict[str, list[int]] = {}
    dropped_bench: dict[str, str] = {}
    for b in benchmarks:
        ok = [s for s in seeds_of(b) if all((b, o, s) in usable for o in optimizers)]
        for s in seeds_of(b):
            if s in ok:
                continue
            lacking = [o for o in optimizers if (b, o, s) not in usable]
            for o in optimizers:
                if (b, o, s) in usable:
                    excl.append(
                        {
                            "benchmark": b,
                            "optimizer": o,
                            "seed": s,
                            "reason": "dropped to keep seeds paired: no usable run of " + ", ".join(lacking),
                        }
                    )
        if ok and optimizers:
            paired[b] = ok
        else:
            dropped_bench[b] = "no seed on which every optimizer has a usable run"
    benchmarks = [b for b in benchmarks if b in paired]
    if not benchmarks or not optimizers:
        raise UsageError(
            f"{run_dir}: no usable runs to report ({len(excl)} excluded, e.g. "
            f"{excl[0]['reason'] if excl else 'no trajectories'})"
        )
    keep = pd.MultiIndex.from_tuples(
        [(b, o, s) for b in benchmarks for o in optimizers for s in paired[b]], names=RUN_KEY
    )
    idx = pd.MultiIndex.from_frame(traj[RUN_KEY])
    traj = traj[idx.isin(keep)].reset_index(drop=True)
    exclusions = pd.DataFrame(excl, columns=["benchmark", "optimizer", "seed", "reason"])
    return StudyData(
        run_dir, manifest, traj, benchmarks, optimizers, paired, exclusions, dropped_bench, dropped_opt, n_expected
    )


def _step(x: np.ndarray, v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Value of the last point with x <= grid (a step function); 1.0 before the first one."""
    idx = np.searchsorted(x, grid, side="right") - 1
    return np.where(idx >= 0, v[np.clip(idx, 0, None)], 1.0)


def curves(replay: StudyData, benchmark: str, column: str, grid: np.ndarray) -> np.ndarray:
    """Normalized regret of every (optimizer, paired seed) run of a benchmark on a grid: (O, S, G)."""
    t = replay.trajectories
    t = t[t["benchmark"] == benchmark]
    groups = {k: g for k, g in t.groupby(["optimizer", "seed"], sort=False)}
    seeds = replay.seeds[benchmark]
    out = np.empty((len(replay.optimizers), len(seeds), len(grid)))
    for i, o in enumerate(replay.optimizers):
        for j, s in enumerate(seeds):
            g = groups[(o, s)]
            x = np.maximum.accumulate(g[column].to_numpy(dtype=float))  # guard against float jitter
            out[i, j] = _step(x, g["normalized_regret"].to_numpy(dtype=float), grid)
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


def _fmt(x: float) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.3g}"


def _json(obj: Any) -> str:
    """Compact JSON for a table cell: floats to 6 significant digits (0.06, not 0.060000000000000005)."""

    def short(o: Any) -> Any:
        if isinstance(o, float):
            return float(f"{o:.6g}")
        if isinstance(o, dict):
            return {k: short(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [short(v) for v in o]
        return o

    return json.dumps(short(obj), default=str)


def _seconds(x: float | None) -> str:
    return "" if x is None else f"{x:.3g}" if x < 100 else f"{x:.0f}"


def _fraction_label(f: float) -> str:
    return f"{100 * f:g} % of the budget"


# ----------------------------------------------------------------------------------------------
# the report


@dataclass
class _Figure:
    stem: str
    caption: str
    files: dict[str, str]
    data: list[str]


def write_report(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    budgets: Sequence[float] = (0.25, 1.0),
    alpha: float = 0.05,
    *,
    min_benchmark_blocks: int = 5,
    floor: float = 1e-4,
) -> Path:
    """Write the report of a replay directory; return the path of its ``index.html``."""
    from mfbench.analysis import plots
    from mfbench.analysis.stats import compare_optimizers, rank_scores, split_half

    budgets = [float(f) for f in budgets]
    if not budgets or any(not 0.0 < f <= 1.0 for f in budgets):
        raise UsageError(f"budget fractions must be in (0, 1], got {budgets}")
    if not 0.0 < alpha < 1.0:
        raise UsageError(f"alpha must be in (0, 1), got {alpha}")
    replay = load_study(run_dir)
    out = Path(out_dir) if out_dir is not None else replay.run_dir / "report"
    fig_dir, data_dir = out / "figures", out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    opts, benches = replay.optimizers, replay.benchmarks
    colors, styles = plots.framework_styles(opts)
    figures: dict[str, list[_Figure]] = {"cd": [], "pairwise": [], "anytime": [], "rank": [], "confusion": []}
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
        figures[section].append(_Figure(stem, caption, files, data))

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
            where = _fraction_label(f) + (f", {b}" if b else "")
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
            stats_json = data_file(
                f"stats_{tag}.json",
                {
                    "budget_fraction": f,
                    "benchmark": b,
                    "metric": "normalized regret (lower is better)",
                    **comp.to_dict(),
                    "split_half": rel.to_dict(),
                },
            )
            order = list(comp.average_ranks.sort_values().index)
            pmat = comp.wilcoxon_holm_p.loc[order, order]
            p_csv = data_file(f"pvalues_{tag}.csv", pmat.rename_axis("method").reset_index())
            entry.update({"comparison": comp, "stats": comp.to_dict(), "split_half": rel.to_dict()})
            comparisons.append(entry)
            figure(
                "cd",
                plots.plot_cd(
                    comp,
                    title=f"Critical difference at {where} (normalized regret)",
                    colors=colors,
                    blocks_note=note + "\n" + rel.short(),
                ),
                f"cd_{tag}",
                f"Average ranks at {where}; {note}. Lower rank = better. "
                f"Bars: Nemenyi CD at \u03b1 = {alpha:g}, drawn only if the Iman\u2013Davenport test rejects. "
                f"Would the verdict reproduce? {rel.reading()}.",
                [scores_csv, stats_json],
            )
            figure(
                "pairwise",
                plots.plot_pvalues(pmat, alpha=alpha, title=f"Pairwise Wilcoxon signed-rank at {where}"),
                f"pvalues_{tag}",
                f"Holm-adjusted two-sided Wilcoxon signed-rank p-values at {where} "
                f"({note}; zero differences split)." + _power_note(comp),
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
        head, fw_rows = framework_table(finals, b, sources[b][1])
        fw_tables.append((b, head, fw_rows))
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
    summary["framework_table"] = {b: [dict(zip(head, r)) for r in fw_rows] for b, head, fw_rows in fw_tables}
    pooled = pooled_table(finals)
    summary["framework_table_pooled"] = [dict(zip(pooled[0], r)) for r in pooled[1]]

    # --- exclusions and manifest
    excl_csv = data_file("exclusions.csv", replay.exclusions)
    summary["exclusions"] = replay.exclusions.to_dict(orient="records")
    summary["dropped_benchmarks"] = replay.dropped_benchmarks
    summary["dropped_optimizers"] = replay.dropped_optimizers
    summary["final_average_rank"] = {o: float(r) for o, r in avg_rank.items()}
    data_file("summary.json", summary)

    ctx = _Context(
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
    (out / "report.md").write_text(_markdown(ctx))
    index = out / "index.html"
    index.write_text(_html(ctx))
    log.info("wrote report to %s", index)
    return index


@dataclass
class _Context:
    replay: StudyData
    summary: dict[str, Any]
    comparisons: list[dict[str, Any]]
    figures: dict[str, list[_Figure]]
    final: pd.DataFrame
    avg_rank: pd.Series
    final_csv: str
    excl_csv: str
    blocks_rule: str
    budgets: list[float]
    alpha: float
    floor: float
    fw_tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    fw_csv: str = ""
    pooled: tuple[list[str], list[list[str]]] = ([], [])


SECTIONS = [
    ("summary", "Summary"),
    ("frameworks", "Frameworks"),
    ("confusion", "Confusion matrices"),
    ("cd", "Critical-difference diagrams"),
    ("pairwise", "Pairwise comparisons"),
    ("anytime", "Anytime performance"),
    ("rank", "Average rank over time"),
    ("final", "Final regret"),
    ("manifest", "Manifest"),
    ("excluded", "Excluded runs"),
]


FRAMEWORK_NOTE = (
    "Each optimizer under its framework (the library that decides). Final incumbent (the configuration the run "
    "would deliver): test and validation accuracy are its noise-free means at the largest budget; test macro "
    "precision, recall and F1 come from the confusion matrices the benchmark's table recorded for its full-length "
    "runs (their last epoch = the largest budget), averaged over the table's training seeds; all as mean \u00b1 sd "
    "over the replay's seeds, in %. Time to \u22641 pt / \u22640.5 pt: simulated seconds until the incumbent's "
    "validation accuracy is within 1 / 0.5 accuracy points of the benchmark's best, median over seeds (\"not "
    'reached" when fewer than half got there) and, in parentheses, the fraction of seeds that got there. '
    "Evaluations, epochs: per run, mean over seeds. Overhead / eval: the optimizer's own measured wall time per "
    "evaluation (ask + tell). Repeats: evaluations of a (configuration, budget, mode) the run had evaluated already."
)

POOLED_NOTE = (
    "Pooled over the benchmarks, in what is comparable across them (accuracy, precision and recall are not: a point "
    "means something else on each task, so they stay in the tables per benchmark). Every benchmark weighs the same. "
    "Mean rank: the optimizers ranked by final normalized regret within each (benchmark, seed), averaged over seeds "
    "and then benchmarks (1 = best). Normalized regret: final, mean over seeds, then benchmarks. Reached: share of "
    "all runs whose incumbent got within 1 / 0.5 accuracy points of its benchmark's best. Budget to \u22641 pt: the "
    "share of its budget a run had spent when it got there, median over all runs. Repeats %: repeated evaluations "
    "as a share of all evaluations."
)


def _partial_text(r: StudyData) -> list[str]:
    """Say plainly when the analysed runs are not a whole study: runs of the study's grid not run
    (yet), or, for a suite whose members the study does not all hold (LCBench's 34 tasks run a
    few at a time), how many of its members are here: a ranking over part of a suite is not the
    suite's ranking."""
    out = []
    not_run = int((r.exclusions["reason"] == "missing: no trajectory (not run)").sum()) if len(r.exclusions) else 0
    if not_run:
        out.append(f"{not_run} of the study's {r.n_expected_runs} runs have not run (yet)")
    from mfbench.objectives.lcbench import TASKS

    lc = {f"lcbench-{t}" for t in TASKS}
    have = lc & set(r.manifest.get("benchmarks", {}))
    if have and have != lc:
        out.append(
            f"the study holds {len(have)} of the {len(lc)} tasks of suite lcbench, "
            f"{len(lc & set(r.benchmarks))} of them analysed"
        )
    return [f"**Partial study**: {'; '.join(out)}."] if out else []


def _method_text(ctx: _Context) -> list[str]:
    r = ctx.replay
    n_used = sum(len(s) for s in r.seeds.values()) * len(r.optimizers)
    return [
        *_partial_text(r),
        f"Replay `{r.run_dir}`: {len(r.benchmarks)} benchmark(s), {len(r.optimizers)} optimizer(s); "
        f"{n_used} of {r.n_expected_runs} runs analysed, {len(r.exclusions)} left out (listed under Excluded runs).",
        "Metric: the incumbent's normalized regret, (incumbent \u2212 best) / (worst \u2212 best) with the benchmark's "
        "bounds, from the noise-free mean of the incumbent; **lower is better**. At a budget fraction f a run "
        "counts with its last trajectory row whose budget_fraction \u2264 f; a run with no row yet counts as 1.0.",
        f"Statistics at {', '.join(_fraction_label(f) for f in ctx.budgets)}: {ctx.blocks_rule}. Methods are ranked "
        "within each block (rank 1 = best, ties share the average rank); Friedman \u03c7\u00b2 and Iman\u2013Davenport F "
        f"test whether all methods are equivalent (decision by Iman\u2013Davenport at \u03b1 = {ctx.alpha:g}); only "
        "then are the Nemenyi critical difference and its groups (bars on the diagram) read. Pairwise claims use "
        "two-sided Wilcoxon signed-rank tests over the same blocks, zero differences split between the sides, "
        "Holm-corrected.",
        "Seeds are paired: within a benchmark only seeds on which every optimizer has a usable run are analysed.",
    ]


def _comparison_lines(ctx: _Context) -> list[str]:
    lines = []
    for c in ctx.comparisons:
        where = _fraction_label(c["budget_fraction"]) + (f", {c['benchmark']}" if c["benchmark"] else "")
        if "error" in c:
            lines.append(f"{where}: not computed ({c['error']}).")
            continue
        comp = c["comparison"]
        best = comp.average_ranks.idxmin()
        verdict = "methods differ" if comp.significant else "no significant difference"
        sig_pairs = [f"{a} vs {b}" for a, b in comp.nemenyi_pairs()] if comp.significant else []
        lines.append(
            f"{where} ({c['blocks_note']}): {verdict} (Friedman p = {_fmt(comp.friedman_p)}, "
            f"Iman\u2013Davenport p = {_fmt(comp.iman_davenport_p)}); best average rank: {best} "
            f"({comp.average_ranks[best]:.2f}); CD = {comp.critical_difference:.2f}"
            + (f"; Nemenyi-significant pairs: {', '.join(sig_pairs)}" if sig_pairs else "")
            + "."
            + _power_note(comp)
            + f" Reproducibility: {c['split_half']['reading']}."
        )
    return lines


def _power_note(comp) -> str:
    if comp.min_wilcoxon_holm_p < comp.alpha:
        return ""
    return (
        f" With N = {comp.n_blocks} blocks and {len(comp.methods)} methods no pair can reach significance in the "
        f"Holm-corrected Wilcoxon tests: the smallest attainable adjusted p is {comp.min_wilcoxon_holm_p:.3g}."
    )


def _cell(row: pd.Series) -> str:
    return f"{_fmt(row['median'])} [{_fmt(row['q25'])}, {_fmt(row['q75'])}]"


def _final_rows(ctx: _Context) -> tuple[list[str], list[tuple[str, list[tuple[str, bool]]]]]:
    opts = ctx.replay.optimizers
    out = []
    for b in ctx.replay.benchmarks:
        sub = ctx.final[ctx.final["benchmark"] == b].set_index("optimizer").loc[opts]
        best = sub["median"].min()
        out.append((b, [(_cell(sub.loc[o]), bool(sub.loc[o, "median"] <= best)) for o in opts]))
    best_rank = ctx.avg_rank.min()
    out.append(("average rank", [(f"{ctx.avg_rank[o]:.2f}", bool(ctx.avg_rank[o] <= best_rank)) for o in opts]))
    traj = ctx.replay.trajectories
    if "repeat" in traj.columns and len(traj):
        # evaluations of a configuration at a budget and mode the same run had evaluated already
        # (SMAC's first Hyperband bracket, DEHB on a finite grid, a GA on an exhausted space):
        # mean per run, so that a reader sees what part of a budget went to repeats
        per_run = (
            traj.groupby(["benchmark", "optimizer", "seed"])["repeat"].sum().groupby(["benchmark", "optimizer"]).mean()
        )
        for b in ctx.replay.benchmarks:
            out.append(
                (
                    f"{b}: repeated evaluations per run",
                    [(f"{per_run.get((b, o), float('nan')):.1f}", False) for o in opts],
                )
            )
    return opts, out


def _manifest_items(m: dict[str, Any]) -> list[tuple[str, str]]:
    budget = m.get("budget", {}) or {}
    return [
        (k, str(v))
        for k, v in [
            ("command", m.get("command")),
            ("created", m.get("created")),
            ("mfbench version", m.get("mfbench_version")),
            ("seeds", m.get("seeds")),
            ("workers", m.get("workers")),
            ("count overhead", m.get("count_overhead")),
            ("budget", budget.get("spec")),
        ]
        if v is not None
    ]


def _benchmark_rows(ctx: _Context) -> list[list[str]]:
    m = ctx.replay.manifest
    secs = (m.get("budget", {}) or {}).get("seconds", {}) or {}
    rows = []
    for b, info in (m.get("benchmarks", {}) or {}).items():
        info = info or {}
        extra = {
            k: v
            for k, v in info.items()
            if k not in ("kind", "hash", "ladder", "optimum", "bounds", "full_budget_seconds")
        }
        rows.append(
            [
                b,
                str(info.get("kind", "")),
                str(info.get("hash", "")),
                str(info.get("ladder", "")),
                _json(info.get("optimum", "")),
                _json(info.get("bounds", "")),
                _seconds(info.get("full_budget_seconds")),
                _seconds(secs.get(b)),
                _json(extra) if extra else "",
            ]
        )
    return rows


BENCH_HEAD = [
    "benchmark",
    "kind",
    "hash",
    "ladder (epochs)",
    "optimum",
    "bounds",
    "full-budget s",
    "replay budget s",
    "other (e.g. surrogate hashes)",
]


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    def esc(s: str) -> str:
        return str(s).replace("|", "\\|").replace("\n", " ")

    return [
        "| " + " | ".join(esc(h) for h in head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(esc(c) for c in r) + " |" for r in rows),
    ]


def _markdown(ctx: _Context) -> str:
    lines: list[str] = ["# mfbench report", ""]
    lines += [
        "## Summary",
        "",
        *(f"- {t}" for t in _method_text(ctx)),
        "",
        *(f"- {t}" for t in _comparison_lines(ctx)),
        "",
    ]
    titles = dict(SECTIONS)
    lines += [f"## {titles['frameworks']}", "", FRAMEWORK_NOTE, ""]
    for b, head, rows in ctx.fw_tables:
        lines += [f"### {b}", "", *_md_table(head, rows), ""]
    if ctx.pooled[1]:
        lines += [f"### pooled over {ctx.pooled[1][0][2]} benchmarks", "", POOLED_NOTE, "", *_md_table(*ctx.pooled), ""]
    lines += [f"Data (one row per run): [{Path(ctx.fw_csv).name}]({ctx.fw_csv})", ""]
    for key in ("confusion", "cd", "pairwise", "anytime", "rank"):
        lines += [f"## {titles[key]}", ""]
        if key == "confusion" and not ctx.figures["confusion"]:
            lines += ["No benchmark of this replay records confusion matrices.", ""]
        if key == "pairwise":
            lines += ["Groups not separated by any Holm\u2013Wilcoxon test (cliques):", ""]
            for c in ctx.comparisons:
                if "comparison" in c:
                    cl = "; ".join("{" + ", ".join(g) + "}" for g in c["comparison"].wilcoxon_cliques) or "none"
                    lines.append(
                        f"- {_fraction_label(c['budget_fraction'])}"
                        + (f", {c['benchmark']}" if c["benchmark"] else "")
                        + f": {cl}"
                    )
            lines.append("")
        for fig in ctx.figures[key]:
            lines += [
                f"![{fig.caption}](figures/{fig.stem}.png)",
                "",
                f"*{fig.caption}* [SVG](figures/{fig.stem}.svg) \u00b7 data: "
                + ", ".join(f"[{Path(d).name}]({d})" for d in fig.data),
                "",
            ]
    opts, rows = _final_rows(ctx)
    lines += [
        f"## {titles['final']}",
        "",
        "Median [interquartile range] over seeds of the final normalized regret "
        "(at 100 % of the budget; lower is better; best median in bold). Average rank: rank of the seed-mean "
        "final regret within each benchmark (1 = best), averaged over benchmarks.",
        "",
    ]
    lines += _md_table(
        ["benchmark", *opts], [[b, *(f"**{t}**" if bold else t for t, bold in cells)] for b, cells in rows]
    )
    lines += ["", f"Data: [{Path(ctx.final_csv).name}]({ctx.final_csv})", ""]
    m = ctx.replay.manifest
    lines += [f"## {titles['manifest']}", ""]
    lines += [f"- {k}: {v}" for k, v in _manifest_items(m)]
    lines += [
        "",
        "Versions:",
        "",
        *_md_table(["package", "version"], [[k, str(v)] for k, v in (m.get("versions") or {}).items()]),
    ]
    lines += [
        "",
        "Hardware:",
        "",
        *_md_table(["key", "value"], [[k, str(v)] for k, v in (m.get("hardware") or {}).items()]),
    ]
    lines += ["", "Benchmarks:", "", *_md_table(BENCH_HEAD, _benchmark_rows(ctx))]
    lines += ["", "Optimizers (settings):", ""]
    lines += [
        f"- **{o}**: `{json.dumps(s, sort_keys=True, default=str)}`" for o, s in (m.get("optimizers") or {}).items()
    ]
    lines += ["", f"## {titles['excluded']}", ""]
    lines += _excluded_text(ctx)
    rows_ex = [[r.benchmark, r.optimizer, str(r.seed), r.reason] for r in ctx.replay.exclusions.itertuples()]
    lines += _md_table(["benchmark", "optimizer", "seed", "reason"], rows_ex) if rows_ex else ["No run was excluded."]
    lines += ["", f"Data: [{Path(ctx.excl_csv).name}]({ctx.excl_csv})", ""]
    return "\n".join(lines)


def _excluded_text(ctx: _Context) -> list[str]:
    out = []
    for o, why in ctx.replay.dropped_optimizers.items():
        out.append(f"- Optimizer **{o}** left out: {why}.")
    for b, why in ctx.replay.dropped_benchmarks.items():
        out.append(f"- Benchmark **{b}** left out: {why}.")
    return out + ([""] if out else [])


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #bbb}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444}table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top;overflow-wrap:anywhere}th{background:#f3f3f3}
td.best{font-weight:bold;background:#eef6ee}code,pre{font-size:.85em;background:#f6f6f6}
nav a{margin-right:1em}.ns{color:#b00020}
.wide{overflow-x:auto}.wide table{font-size:.8em}.wide td{white-space:nowrap;overflow-wrap:normal}
"""


def _h(s: Any) -> str:
    return html.escape(str(s))


def _html_table(head: list[str], rows: list[list[str]], raw: bool = False) -> str:
    cells = "".join(f"<th>{_h(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else _h(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _md_inline(s: str) -> str:
    s = _h(s)
    s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", s)


def _html(ctx: _Context) -> str:
    titles = dict(SECTIONS)
    parts: list[str] = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>mfbench report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>mfbench report</h1>",
        "<nav>" + "".join(f"<a href='#{k}'>{_h(t)}</a>" for k, t in SECTIONS) + "</nav>",
    ]
    parts += [
        f"<h2 id='summary'>{titles['summary']}</h2><ul>",
        *(f"<li>{_md_inline(t)}</li>" for t in _method_text(ctx)),
        "</ul><ul>",
        *(f"<li>{_h(t)}</li>" for t in _comparison_lines(ctx)),
        "</ul>",
    ]
    parts.append(f"<h2 id='frameworks'>{titles['frameworks']}</h2><p>{_h(FRAMEWORK_NOTE)}</p>")
    for b, head, rows in ctx.fw_tables:
        parts.append(f"<h3>{_h(b)}</h3><div class='wide'>" + _html_table(head, rows) + "</div>")
    if ctx.pooled[1]:
        parts.append(
            f"<h3>pooled over {_h(ctx.pooled[1][0][2])} benchmarks</h3><p>{_h(POOLED_NOTE)}</p>"
            "<div class='wide'>" + _html_table(*ctx.pooled) + "</div>"
        )
    parts.append(f"<p>Data (one row per run): <a href='{ctx.fw_csv}'>{_h(Path(ctx.fw_csv).name)}</a></p>")
    for key in ("confusion", "cd", "pairwise", "anytime", "rank"):
        parts.append(f"<h2 id='{key}'>{titles[key]}</h2>")
        if key == "confusion" and not ctx.figures["confusion"]:
            parts.append("<p>No benchmark of this replay records confusion matrices.</p>")
        if key == "pairwise":
            parts.append("<p>Groups not separated by any Holm\u2013Wilcoxon test (cliques):</p><ul>")
            for c in ctx.comparisons:
                if "comparison" in c:
                    cl = "; ".join("{" + ", ".join(g) + "}" for g in c["comparison"].wilcoxon_cliques) or "none"
                    where = _fraction_label(c["budget_fraction"]) + (f", {c['benchmark']}" if c["benchmark"] else "")
                    parts.append(f"<li>{_h(where)}: {_h(cl)}</li>")
            parts.append("</ul>")
        for c in ctx.comparisons if key == "cd" else []:
            if "error" in c:
                parts.append(
                    f"<p class='ns'>{_h(_fraction_label(c['budget_fraction']))}: not computed ({_h(c['error'])})</p>"
                )
        for fig in ctx.figures[key]:
            links = (
                f"<a href='figures/{fig.stem}.png'>PNG</a> \u00b7 <a href='figures/{fig.stem}.svg'>SVG</a> \u00b7 "
                "data: " + ", ".join(f"<a href='{d}'>{_h(Path(d).name)}</a>" for d in fig.data)
            )
            width = " style='max-width:640px'" if key == "pairwise" else ""
            parts.append(
                f"<figure{width}><img alt='{_h(fig.caption)}' src='data:image/png;base64,{fig.files['base64']}'>"
                f"<figcaption>{_h(fig.caption)} {links}</figcaption></figure>"
            )
    opts, rows = _final_rows(ctx)
    parts.append(
        f"<h2 id='final'>{titles['final']}</h2><p>Median [interquartile range] over seeds of the final "
        "normalized regret (at 100 % of the budget; <b>lower is better</b>; best median in bold). Average rank: "
        "rank of the seed-mean final regret within each benchmark (1 = best), averaged over benchmarks.</p>"
    )
    head = "".join(f"<th>{_h(c)}</th>" for c in ["benchmark", *opts])
    body = "".join(
        "<tr><th>"
        + _h(b)
        + "</th>"
        + "".join(f"<td class='best'>{_h(t)}</td>" if bold else f"<td>{_h(t)}</td>" for t, bold in cells)
        + "</tr>"
        for b, cells in rows
    )
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append(f"<p>Data: <a href='{ctx.final_csv}'>{_h(Path(ctx.final_csv).name)}</a></p>")
    m = ctx.replay.manifest
    parts.append(f"<h2 id='manifest'>{titles['manifest']}</h2>")
    parts.append(_html_table(["field", "value"], [[k, v] for k, v in _manifest_items(m)]))
    parts.append(
        "<h3>Versions</h3>"
        + _html_table(["package", "version"], [[k, v] for k, v in (m.get("versions") or {}).items()])
    )
    parts.append(
        "<h3>Hardware</h3>" + _html_table(["key", "value"], [[k, v] for k, v in (m.get("hardware") or {}).items()])
    )
    parts.append("<h3>Benchmarks</h3>" + _html_table(BENCH_HEAD, _benchmark_rows(ctx)))
    parts.append(
        "<h3>Optimizers</h3>"
        + "".join(
            f"<details><summary>{_h(o)}</summary><pre>{_h(json.dumps(s, indent=2, sort_keys=True, default=str))}</pre>"
            "</details>"
            for o, s in (m.get("optimizers") or {}).items()
        )
    )
    parts.append(f"<h2 id='excluded'>{titles['excluded']}</h2>")
    parts += [f"<p>{_md_inline(t[2:])}</p>" for t in _excluded_text(ctx) if t]
    rows_ex = [[r.benchmark, r.optimizer, str(r.seed), r.reason] for r in ctx.replay.exclusions.itertuples()]
    parts.append(
        _html_table(["benchmark", "optimizer", "seed", "reason"], rows_ex) if rows_ex else "<p>No run was excluded.</p>"
    )
    parts.append(f"<p>Data: <a href='{ctx.excl_csv}'>{_h(Path(ctx.excl_csv).name)}</a></p></body></html>")
    return "\n".join(parts)


def write_report_safely(run_dir: Path, out_dir: Path | None = None) -> Path | None:
    """``write_report`` after a study: a problem is a warning (the study is done and saved), not an error."""
    try:
        return write_report(run_dir, out_dir if out_dir is not None else run_dir / "report")
    except Exception as exc:  # the study is done and saved; a report problem must not hide that
        log.warning(
            "the report could not be written (%s: %s); run `mfbench report %s` to retry",
            type(exc).__name__,
            exc,
            run_dir,
        )
        return None
