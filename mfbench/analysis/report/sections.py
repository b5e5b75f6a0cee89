"""The report's words: ``build_report`` turns the computed ``Results`` into the one section model.

Every sentence of report.md and index.html is written here (figure captions with their figures,
in compute.py); the renderers only format. Sections in ``SECTIONS`` order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mfbench.analysis.report.compute import Results, fraction_label, power_note
from mfbench.analysis.report.load import StudyData
from mfbench.analysis.report.model import (
    Block,
    BulletList,
    Cell,
    Code,
    Fields,
    Figure,
    Heading,
    Label,
    Link,
    Notes,
    Paragraph,
    Report,
    Section,
    Settings,
    Strong,
    Table,
    Text,
)

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

TITLE = "mfbench report"

FRAMEWORK_NOTE = (
    "Each optimizer under its framework (the library that decides). Final incumbent (the configuration the run "
    "would deliver): test and validation accuracy, as the benchmark defines them (the headers say which: "
    "LCBench's test column is balanced accuracy), are its noise-free means at the largest budget; test macro "
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

# the sections whose body is mostly figures, in report order
FIGURE_SECTIONS = ("confusion", "cd", "pairwise", "anytime", "rank")


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


def _data_link(path: str) -> Link:
    """A link to a file under ``data/``, named by its file name."""
    return Link(Path(path).name, path)


def _where(c: dict[str, Any]) -> str:
    return fraction_label(c["budget_fraction"]) + (f", {c['benchmark']}" if c["benchmark"] else "")


# ------------------------------------------------------------------------------------------
# summary


def _partial_text(r: StudyData) -> list[Text]:
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
    return [(Strong("Partial study"), f": {'; '.join(out)}.")] if out else []


def _empty_runs_text(r: StudyData) -> list[Text]:
    """Name the runs that ended without any evaluation (their first training would have ended
    past the budget): they count, with regret 1.0 throughout, and a reader should know why an
    optimizer's worst seeds look as they do."""
    if not r.empty_runs:
        return []
    runs = sorted(r.empty_runs)
    named = ", ".join(f"{o} seed {s} on {b}" for b, o, s in runs[:4])
    more = f" and {len(runs) - 4} more" if len(runs) > 4 else ""
    return [
        (
            Strong("Runs without a result"),
            f": {named}{more} ended without any evaluation (the first training would have ended past "
            "the budget). They count with regret 1.0 throughout; they have no incumbent, so their accuracies are "
            "left out of the framework tables' means.",
        )
    ]


def _mixed_settings_text(r: StudyData) -> list[Text]:
    """Say when the runs of one optimizer on one benchmark were made with different settings
    (``settings_digest`` in the manifest's run entries): a study continued after a change in how
    an optimizer is driven compares two versions of it. Runs recorded before digests existed
    say nothing and are not counted."""
    digests: dict[tuple[str, str], set[str]] = {}
    for run in r.manifest.get("runs", []) or []:
        d = run.get("settings_digest") if isinstance(run, dict) else None
        if isinstance(d, str) and run.get("status") == "ok":
            digests.setdefault((str(run.get("benchmark")), str(run.get("optimizer"))), set()).add(d)
    mixed = sorted(k for k, v in digests.items() if len(v) > 1)
    if not mixed:
        return []
    named = ", ".join(f"{o} on {b} ({len(digests[(b, o)])} settings)" for b, o in mixed[:3])
    more = f" and {len(mixed) - 3} more" if len(mixed) > 3 else ""
    return [
        (
            Strong("Mixed settings"),
            f": the runs of {named}{more} were made with different settings of the optimizer, so its "
            "results mix versions of it; set the older run files aside and rerun them, or report them apart.",
        )
    ]


def _method_text(res: Results) -> list[Text]:
    r = res.replay
    n_used = sum(len(s) for s in r.seeds.values()) * len(r.optimizers)
    return [
        *_partial_text(r),
        *_mixed_settings_text(r),
        *_empty_runs_text(r),
        (
            "Replay ",
            Code(str(r.run_dir)),
            f": {len(r.benchmarks)} benchmark(s), {len(r.optimizers)} optimizer(s); "
            f"{n_used} of {r.n_expected_runs} runs analysed, {len(r.exclusions)} left out (listed under Excluded runs).",
        ),
        (
            "Metric: the incumbent's normalized regret, (incumbent \u2212 best) / (worst \u2212 best) with the "
            "benchmark's bounds, from the noise-free mean of the incumbent; ",
            Strong("lower is better"),
            ". At a budget fraction f a run counts with its last trajectory row whose budget_fraction \u2264 f; "
            "a run with no row yet counts as 1.0.",
        ),
        (
            f"Statistics at {', '.join(fraction_label(f) for f in res.budgets)}: {res.blocks_rule}. Methods are "
            "ranked within each block (rank 1 = best, ties share the average rank); Friedman \u03c7\u00b2 and "
            "Iman\u2013Davenport F test whether all methods are equivalent (decision by Iman\u2013Davenport at "
            f"\u03b1 = {res.alpha:g}); only then are the Nemenyi critical difference and its groups (bars on the "
            "diagram) read. Pairwise claims use two-sided Wilcoxon signed-rank tests over the same blocks, zero "
            "differences split between the sides, Holm-corrected.",
        ),
        ("Seeds are paired: within a benchmark only seeds on which every optimizer has a usable run are analysed.",),
        *_gate_text(r),
    ]


def _gate_line(info: Any) -> str:
    """A surrogate benchmark's gate line as the replay recorded it (text from a manifest: kept
    only when it is a short string)."""
    g = info.get("gates") if isinstance(info, dict) else None
    return g if isinstance(g, str) and len(g) <= 300 else ""


def _gate_text(r: StudyData) -> list[Text]:
    """One line per surrogate benchmark: how far it passes the gates of ``surrogates.gates``."""
    infos = r.manifest.get("benchmarks", {}) or {}
    out: list[Text] = []
    for b in r.benchmarks:
        line = _gate_line(infos.get(b))
        if line:
            out.append(
                (
                    "Surrogate benchmark ",
                    Strong(b),
                    f" — {line}.",
                )
            )
    return out


#: more Nemenyi-separated pairs than this are counted in the summary, not listed: 90 names in
#: one sentence is a wall nobody reads, and the CD diagram shows the same as bars
MAX_PAIRS_LISTED = 8


def nemenyi_pairs_text(sig_pairs: list[str], n_methods: int) -> str:
    """The summary's clause on the Nemenyi-separated pairs: each named when they are few, else
    how many of all pairs, and where to see which."""
    if not sig_pairs:
        return ""
    if len(sig_pairs) <= MAX_PAIRS_LISTED:
        return f"; Nemenyi-significant pairs: {', '.join(sig_pairs)}"
    n_all = n_methods * (n_methods - 1) // 2
    return (
        f"; Nemenyi separates {len(sig_pairs)} of the {n_all} pairs (which ones: the bars of the "
        "critical-difference diagram below, or the pairwise list in its stats JSON)"
    )


def _comparison_lines(res: Results) -> list[Text]:
    lines: list[Text] = []
    for c in res.comparisons:
        where = _where(c)
        if "error" in c:
            lines.append((f"{where}: not computed ({c['error']}).",))
            continue
        comp = c["comparison"]
        best = comp.average_ranks.idxmin()
        verdict = "methods differ" if comp.significant else "no significant difference"
        sig_pairs = [f"{a} vs {b}" for a, b in comp.nemenyi_pairs()] if comp.significant else []
        lines.append(
            (
                f"{where} ({c['blocks_note']}): {verdict} (Friedman p = {_fmt(comp.friedman_p)}, "
                f"Iman\u2013Davenport p = {_fmt(comp.iman_davenport_p)}); best average rank: {best} "
                f"({comp.average_ranks[best]:.2f}); CD = {comp.critical_difference:.2f}"
                + nemenyi_pairs_text(sig_pairs, len(comp.average_ranks))
                + "."
                + power_note(comp)
                + f" Reproducibility: {c['split_half']['reading']}"
                + (f"; {c['seed_split']['reading']}." if "seed_split" in c else "."),
            )
        )
    return lines


def _summary(res: Results) -> list[Block]:
    return [BulletList(tuple(_method_text(res)), glue=True), BulletList(tuple(_comparison_lines(res)), glue=True)]


# ------------------------------------------------------------------------------------------
# frameworks


def _frameworks(res: Results) -> list[Block]:
    """The pooled table first where there is one (over a suite of 34 tasks it is the table a
    reader came for, and it would otherwise follow 34 others), then one table per benchmark."""
    blocks: list[Block] = []
    head, rows = res.pooled
    if rows:
        blocks += [
            Heading(f"pooled over {rows[0][2]} benchmarks"),
            Paragraph((POOLED_NOTE,), glue=True),
            Table(tuple(head), tuple(tuple(r) for r in rows), wide=True, glue=True),
        ]
    blocks.append(Paragraph((FRAMEWORK_NOTE,), glue=True))
    for b, head, rows, note in res.fw_tables:
        blocks += [Heading(b), Table(tuple(head), tuple(tuple(r) for r in rows), wide=True, glue=True)]
        if note:
            blocks.append(Paragraph((note,), glue=True))
    blocks.append(Paragraph(("Data (one row per run): ", _data_link(res.fw_csv))))
    return blocks


# ------------------------------------------------------------------------------------------
# the figure sections


def _figure_blocks(res: Results, key: str) -> list[Block]:
    blocks: list[Block] = []
    if key == "confusion" and not res.figures["confusion"]:
        blocks.append(Paragraph(("No benchmark of this replay records confusion matrices.",)))
    if key == "pairwise":
        blocks.append(Paragraph(("Groups not separated by any Holm\u2013Wilcoxon test (cliques):",)))
        items = []
        for c in res.comparisons:
            if "comparison" in c:
                cl = "; ".join("{" + ", ".join(g) + "}" for g in c["comparison"].wilcoxon_cliques) or "none"
                items.append((f"{_where(c)}: {cl}",))
        blocks.append(BulletList(tuple(items), glue=True))
    if key == "cd":
        for c in res.comparisons:
            if "error" in c:
                text = f"{fraction_label(c['budget_fraction'])}: not computed ({c['error']})"
                blocks.append(Paragraph((text,), css="ns"))
    for fig in res.figures[key]:
        png, svg = f"figures/{fig.stem}.png", f"figures/{fig.stem}.svg"
        blocks.append(
            Figure(
                caption=fig.caption,
                image=png,
                downloads=(Link("PNG", png), Link("SVG", svg)),
                data=tuple(_data_link(d) for d in fig.data),
                base64=fig.files["base64"],
                narrow=key == "pairwise",
            )
        )
    return blocks


# ------------------------------------------------------------------------------------------
# final regret


def _cell(row: pd.Series) -> str:
    return f"{_fmt(row['median'])} [{_fmt(row['q25'])}, {_fmt(row['q75'])}]"


def _final_rows(res: Results) -> list[tuple[str, list[Cell]]]:
    opts = res.replay.optimizers
    out = []
    for b in res.replay.benchmarks:
        sub = res.final[res.final["benchmark"] == b].set_index("optimizer").loc[opts]
        best = sub["median"].min()
        out.append((b, [Cell(_cell(sub.loc[o]), bool(sub.loc[o, "median"] <= best)) for o in opts]))
    best_rank = res.avg_rank.min()
    out.append(("average rank", [Cell(f"{res.avg_rank[o]:.2f}", bool(res.avg_rank[o] <= best_rank)) for o in opts]))
    traj = res.replay.trajectories
    if "repeat" in traj.columns and len(traj):
        # evaluations of a configuration at a budget and mode the same run had evaluated already
        # (SMAC's first Hyperband bracket, DEHB on a finite grid, a GA on an exhausted space):
        # mean per run, so that a reader sees what part of a budget went to repeats
        sums = traj.groupby(["benchmark", "optimizer", "seed"])["repeat"].sum()
        empty = sorted(res.replay.empty_runs)  # runs without an evaluation repeated nothing
        if empty:
            sums = pd.concat([sums, pd.Series(0, index=pd.MultiIndex.from_tuples(empty, names=sums.index.names))])
        per_run = sums.groupby(["benchmark", "optimizer"]).mean()
        for b in res.replay.benchmarks:
            out.append(
                (f"{b}: repeated evaluations per run", [Cell(f"{per_run.get((b, o), float('nan')):.1f}") for o in opts])
            )
    return out


def _final(res: Results) -> list[Block]:
    intro = (
        "Median [interquartile range] over seeds of the final normalized regret (at 100 % of the budget; ",
        Strong("lower is better"),
        "; best median in bold). Average rank: rank of the seed-mean final regret within each benchmark "
        "(1 = best), averaged over benchmarks.",
    )
    rows = tuple((b, *cells) for b, cells in _final_rows(res))
    return [
        Paragraph(intro, glue=True),
        Table(("benchmark", *res.replay.optimizers), rows, row_headers=True),
        Paragraph(("Data: ", _data_link(res.final_csv))),
    ]


# ------------------------------------------------------------------------------------------
# manifest and exclusions


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


def _benchmark_rows(m: dict[str, Any]) -> list[tuple[str, ...]]:
    secs = (m.get("budget", {}) or {}).get("seconds", {}) or {}
    rows = []
    for b, info in (m.get("benchmarks", {}) or {}).items():
        info = info or {}
        extra = {
            k: v
            for k, v in info.items()
            if k not in ("kind", "hash", "ladder", "optimum", "bounds", "full_budget_seconds", "gates")
        }
        gates = _gate_line(info)
        rows.append(
            (
                f"{b} ({gates})" if gates else b,
                str(info.get("kind", "")),
                str(info.get("hash", "")),
                str(info.get("ladder", "")),
                _json(info.get("optimum", "")),
                _json(info.get("bounds", "")),
                _seconds(info.get("full_budget_seconds")),
                _seconds(secs.get(b)),
                _json(extra) if extra else "",
            )
        )
    return rows


def _manifest(res: Results) -> list[Block]:
    m = res.replay.manifest

    def pairs(d: dict | None) -> tuple[tuple[str, str], ...]:
        return tuple((k, str(v)) for k, v in (d or {}).items())

    return [
        Fields(tuple(_manifest_items(m)), head=("field", "value")),
        Label("Versions"),
        Table(("package", "version"), pairs(m.get("versions")), glue=True),
        Label("Hardware"),
        Table(("key", "value"), pairs(m.get("hardware")), glue=True),
        Label("Benchmarks"),
        Table(tuple(BENCH_HEAD), tuple(_benchmark_rows(m)), glue=True),
        Label("Optimizers (settings)"),
        Settings(tuple((m.get("optimizers") or {}).items()), glue=True),
    ]


def _excluded(res: Results) -> list[Block]:
    r = res.replay
    notes: list[Text] = [
        *(("Optimizer ", Strong(o), f" left out: {why}.") for o, why in r.dropped_optimizers.items()),
        *(("Benchmark ", Strong(b), f" left out: {why}.") for b, why in r.dropped_benchmarks.items()),
    ]
    blocks: list[Block] = [Notes(tuple(notes))] if notes else []
    rows = tuple((x.benchmark, x.optimizer, str(x.seed), x.reason) for x in r.exclusions.itertuples())
    blocks.append(
        Table(("benchmark", "optimizer", "seed", "reason"), rows) if rows else Paragraph(("No run was excluded.",))
    )
    blocks.append(Paragraph(("Data: ", _data_link(res.excl_csv))))
    return blocks


def build_report(res: Results) -> Report:
    """The report's sections in ``SECTIONS`` order, every sentence written here once."""
    body = {
        "summary": _summary(res),
        "frameworks": _frameworks(res),
        **{k: _figure_blocks(res, k) for k in FIGURE_SECTIONS},
        "final": _final(res),
        "manifest": _manifest(res),
        "excluded": _excluded(res),
    }
    return Report(TITLE, tuple(Section(k, t, tuple(body[k])) for k, t in SECTIONS))
