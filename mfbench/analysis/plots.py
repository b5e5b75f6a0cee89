"""Figures of the report: CD diagram, anytime regret, average rank over time, p-value matrix.

Matplotlib with the Agg backend (no display needed). Every function takes a ``colors`` map
from method to colour so that one optimizer keeps its colour across all figures of a report.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.layout_engine import PlaceHolderLayoutEngine  # noqa: E402

from mfbench.analysis.stats import Comparison  # noqa: E402

LINESTYLES = ("-", "--", "-.", ":")


def method_colors(methods: Sequence[str]) -> dict[str, tuple]:
    """One colour per method, in the given order (tab10, or tab20 beyond ten methods)."""
    cmap = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")
    return {m: cmap(i % cmap.N) for i, m in enumerate(methods)}


def method_linestyles(methods: Sequence[str]) -> dict[str, str]:
    """Line styles that cycle more slowly than colours, so twenty methods stay distinguishable."""
    per = 10 if len(methods) <= 10 else 20
    return {m: LINESTYLES[(i // per) % len(LINESTYLES)] if len(methods) > per else "-" for i, m in enumerate(methods)}


#: dash patterns of the algorithms within one framework (a framework has one colour)
FRAMEWORK_DASHES = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2)), (0, (2, 3)), (0, (8, 2, 1, 2, 1, 2)))


def framework_styles(methods: Sequence[str]) -> tuple[dict[str, tuple], dict[str, object]]:
    """Colour by framework (the library that decides), dash pattern and shade by algorithm
    within it: with 17+ optimizers a reader finds the framework by colour and the algorithm by
    the line, instead of telling twenty hues apart. Returns (colors, linestyles)."""
    from matplotlib.colors import to_rgb

    from mfbench.optimizers.registry import FRAMEWORKS, framework_of

    cmap = plt.get_cmap("tab10")
    base = {f: to_rgb(cmap(i)) for i, f in enumerate(FRAMEWORKS)}
    base["mfbench"] = to_rgb("0.15")  # mfbench's own baselines in black and greys
    groups: dict[str, list[str]] = {}
    for m in methods:
        groups.setdefault(framework_of(m), []).append(m)
    colors, styles = {}, {}
    for fw, ms in groups.items():
        r, g, b = base.get(fw, to_rgb("0.5"))
        for i, m in enumerate(ms):
            shade = 0.45 * i / max(len(ms) - 1, 1) if len(ms) > 1 else 0.0  # lighter for later algorithms
            colors[m] = (r + (1 - r) * shade, g + (1 - g) * shade, b + (1 - b) * shade, 1.0)
            styles[m] = FRAMEWORK_DASHES[i % len(FRAMEWORK_DASHES)]
    return colors, styles


def order_by_framework(methods: Sequence[str]) -> list[str]:
    """Methods grouped by framework (in ``FRAMEWORKS`` order), so that a legend reads by library."""
    from mfbench.optimizers.registry import FRAMEWORKS, framework_of

    rank = {f: i for i, f in enumerate(FRAMEWORKS)}
    return sorted(methods, key=lambda m: (rank.get(framework_of(m), 99), list(methods).index(m)))


def plot_confusions(panels: Sequence[dict], *, labels: Sequence[str], title: str) -> Figure:
    """Small multiples of confusion matrices normalized per true class (rows), one per framework.

    Each panel: ``framework``, ``optimizer``, ``test_acc``, ``normalized`` (K x K, rows = truth)."""
    n = len(panels)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    k = len(labels)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 3.5 * rows + 0.4), squeeze=False)
    im = None
    for ax, p in zip(axes.ravel(), panels, strict=False):
        m = np.asarray(p["normalized"], dtype=float)
        im = ax.imshow(m, cmap="Blues", vmin=0.0, vmax=1.0)
        for i in range(k):
            for j in range(k):
                if m[i, j] >= 0.005 and (i != j or k <= 12):
                    ax.text(
                        j,
                        i,
                        f"{100 * m[i, j]:.0f}",
                        ha="center",
                        va="center",
                        fontsize=6 if k > 6 else 8,
                        color="white" if m[i, j] > 0.6 else "black",
                    )
        ax.set_xticks(range(k), labels, fontsize=7)
        ax.set_yticks(range(k), labels, fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        ax.set_title(f"{p['framework']}: {p['optimizer']}\ntest acc {100 * p['test_acc']:.2f} %", fontsize=9)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    if im is not None:
        cb = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.02, pad=0.02)
        cb.set_label("fraction of the true class", fontsize=8)
    return fig


def save_figure(fig: Figure, folder: Path, stem: str) -> dict[str, str]:
    """Write ``stem.png`` and ``stem.svg``; return their paths and the PNG as base64 for inlining."""
    folder.mkdir(parents=True, exist_ok=True)
    # ``fig.tight_layout()`` leaves a do-nothing placeholder layout engine on the figure, and
    # savefig draws a figure that has any layout engine once more (without output) before
    # printing it: a layout pass for a layout that is already done. The PNG is the same without
    # it, so it is skipped there. The SVG keeps it: that pass, at the SVG's 72 dpi, changes the
    # last digit of a few SVG coordinates (0 vs -0), and the SVGs stay as they were.
    # (With rcParams asking for an automatic layout, ``None`` would install one: no skipping.)
    engine = fig.get_layout_engine()
    auto = matplotlib.rcParams["figure.autolayout"] or matplotlib.rcParams["figure.constrained_layout.use"]
    skip_pass = isinstance(engine, PlaceHolderLayoutEngine) and not auto
    # one layout pass for both formats (the tight box is in inches, independent of the dpi)
    bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.1)
    buf = io.BytesIO()
    if skip_pass:
        fig.set_layout_engine(None)
    fig.savefig(buf, format="png", dpi=150, bbox_inches=bbox)
    if skip_pass:
        fig.set_layout_engine(engine)
    png = folder / f"{stem}.png"
    png.write_bytes(buf.getvalue())
    svg = folder / f"{stem}.svg"
    fig.savefig(svg, format="svg", bbox_inches=bbox)
    plt.close(fig)
    return {"png": str(png), "svg": str(svg), "base64": base64.b64encode(buf.getvalue()).decode("ascii")}


def _bar_levels(intervals: list[tuple[float, float]], gap: float) -> list[int]:
    """Stack intervals in rows so that no two in one row touch (greedy, in order)."""
    rows: list[list[tuple[float, float]]] = []
    levels = []
    for lo, hi in intervals:
        for i, row in enumerate(rows):
            if all(hi + gap < a or lo - gap > b for a, b in row):
                row.append((lo, hi))
                levels.append(i)
                break
        else:
            rows.append([(lo, hi)])
            levels.append(len(rows) - 1)
    return levels


def plot_cd(
    comp: Comparison, *, title: str, colors: Mapping[str, tuple] | None = None, blocks_note: str | None = None
) -> Figure:
    """Demšar-style critical-difference diagram: best (rank 1) on the right, CD bar on top.

    Bars join methods whose average ranks differ by at most the Nemenyi CD. They are drawn
    only when the omnibus test rejects; otherwise the figure says "not significant".
    """
    ranks = comp.average_ranks.sort_values()
    names = list(ranks.index)
    k = len(names)
    colors = colors or method_colors(comp.methods)
    n_right = math.ceil(k / 2)  # the better half, labelled on the right
    right, left = names[:n_right], names[n_right:][::-1]  # outermost point gets the top row
    cliques = comp.cd_cliques if comp.significant else []
    intervals = [(float(ranks[c].min()), float(ranks[c].max())) for c in cliques]
    levels = _bar_levels(intervals, gap=0.08)
    n_levels = (max(levels) + 1) if levels else 0
    bar_top, bar_step, row_step = -0.45, 0.28, 0.5
    first_row = bar_top - n_levels * bar_step - 0.25
    n_rows = max(len(right), len(left))
    bottom = first_row - (n_rows - 1) * row_step - 0.6
    height_units = 2.6 - bottom
    fig, ax = plt.subplots(figsize=(9.0, 0.55 + 0.42 * height_units))
    ax.set_xlim(k + 0.25, 0.75)  # inverted: rank 1 (best) on the right
    ax.set_ylim(bottom, 2.3)
    ax.axis("off")
    # the rank axis
    ax.plot([k, 1], [0, 0], color="k", lw=1.2)
    for t in np.arange(1, k + 0.01, 0.5):
        major = float(t).is_integer()
        ax.plot([t, t], [0, 0.16 if major else 0.09], color="k", lw=1.0)
        if major:
            ax.text(t, 0.24, f"{int(t)}", ha="center", va="bottom", fontsize=10)
    ax.text((k + 1) / 2, 0.72, "average rank  (1 = best;  better \u2192)", ha="center", va="bottom", fontsize=10)
    # the critical difference
    cd = comp.critical_difference
    if cd <= k - 1:
        ax.plot([k, k - cd], [1.45, 1.45], color="k", lw=1.6)
        for x in (k, k - cd):
            ax.plot([x, x], [1.35, 1.55], color="k", lw=1.2)
        ax.text(
            k - cd / 2, 1.62, f"CD = {cd:.2f} (Nemenyi, \u03b1 = {comp.alpha:g})", ha="center", va="bottom", fontsize=9
        )
    else:
        ax.text(
            k,
            1.45,
            f"CD = {cd:.2f} (Nemenyi, \u03b1 = {comp.alpha:g}) exceeds the rank range",
            ha="left",
            va="center",
            fontsize=9,
        )
    # clique bars
    for (lo, hi), lev in zip(intervals, levels, strict=True):
        y = bar_top - lev * bar_step
        ax.plot([hi + 0.03, lo - 0.03], [y, y], color="k", lw=3.2, solid_capstyle="round", zorder=4)
    # elbows and labels
    for side, group in (("right", right), ("left", left)):
        for row, m in enumerate(group):
            r, y = float(ranks[m]), first_row - row * row_step
            end = 0.75 if side == "right" else k + 0.25
            c = colors.get(m, "k")
            ax.plot([r, r, end], [0, y, y], color=c, lw=1.6, zorder=3)
            ax.plot([r], [0], marker="o", color=c, ms=6, zorder=5)
            label = f"({r:.2f})  {m}" if side == "right" else f"{m}  ({r:.2f})"
            ax.text(
                end - 0.04 if side == "right" else end + 0.04,
                y,
                label,
                ha="left" if side == "right" else "right",
                va="center",
                fontsize=10,
                clip_on=False,
            )
    stats_line = (
        f"Friedman \u03c7\u00b2 = {comp.friedman_chi2:.2f} (p = {comp.friedman_p:.3g}),  "
        f"Iman\u2013Davenport F = {comp.iman_davenport_f:.2f} (p = {comp.iman_davenport_p:.3g}),  "
        f"N = {comp.n_blocks} blocks"
    )
    ax.set_title(title + ("\n" + blocks_note if blocks_note else ""), fontsize=11, pad=4, loc="center")
    ax.text((k + 1) / 2, 2.05, stats_line, ha="center", va="bottom", fontsize=8.5, color="0.25")
    if comp.significant:
        note = f"bars: no significant difference (Nemenyi CD, \u03b1 = {comp.alpha:g})"
        ax.text((k + 1) / 2, bottom + 0.05, note, ha="center", va="bottom", fontsize=8.5, color="0.3")
    else:
        ax.text(
            (k + 1) / 2,
            bottom + 0.05,
            f"not significant (Friedman p = {comp.friedman_p:.3g}, Iman\u2013Davenport p = "
            f"{comp.iman_davenport_p:.3g} \u2265 \u03b1 = {comp.alpha:g}): no post-hoc bars",
            ha="center",
            va="bottom",
            fontsize=9.5,
            color="#b00020",
            fontweight="bold",
        )
    return fig


def _band(ax, x, mean, se, floor, color, ls, label):
    m = np.clip(mean, floor, None)
    ax.plot(x, m, drawstyle="steps-post", color=color, ls=ls, lw=1.8, label=label)
    if np.any(se > 0):
        ax.fill_between(
            x,
            np.clip(mean - se, floor, None),
            np.clip(mean + se, floor, None),
            step="post",
            color=color,
            alpha=0.18,
            lw=0,
        )


def plot_anytime(
    benchmark: str,
    panels: Sequence[tuple[str, pd.DataFrame]],
    *,
    colors: Mapping[str, tuple],
    styles: Mapping[str, str] | None = None,
    floor: float = 1e-4,
    n_seeds: int | None = None,
) -> Figure:
    """Mean ± standard error of incumbent regret over seeds, one log-log panel per x quantity.

    Each panel frame has columns ``x, method, mean, se`` on a common grid of x values.
    """
    styles = styles or {}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.9), sharey=True, squeeze=False)
    for ax, (xlabel, frame) in zip(axes[0], panels, strict=True):
        for m, g in frame.groupby("method", sort=False):
            _band(
                ax,
                g["x"].to_numpy(),
                g["mean"].to_numpy(),
                g["se"].to_numpy(),
                floor,
                colors.get(m, "k"),
                styles.get(m, "-"),
                m,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel(f"normalized regret (log; lower is better;\nclipped at {floor:g})")
    seeds = f", mean \u00b1 s.e. over {n_seeds} seeds" if n_seeds else ", mean \u00b1 s.e. over seeds"
    fig.suptitle(f"Anytime performance on {benchmark}{seeds}", fontsize=11)
    handles, labels = axes[0][0].get_legend_handles_labels()
    by = dict(zip(labels, handles))
    labels = [m for m in order_by_framework(labels)]
    handles = [by[m] for m in labels]
    labels = [_legend_label(m) for m in labels]
    fig.tight_layout()
    # beside the panels, one column per 12 methods: the saved bounding box grows to hold it,
    # whatever the number of methods (below the panels it left a gap or overlapped)
    fig.legend(
        handles,
        labels,
        loc="center left",
        ncol=1 + (len(labels) - 1) // 12,
        frameon=False,
        bbox_to_anchor=(1.0, 0.5),
        fontsize=9,
    )
    return fig


def plot_anytime_by_framework(
    benchmark: str, xlabel: str, frame: pd.DataFrame, *, floor: float = 1e-4, n_seeds: int | None = None
) -> Figure:
    """Small multiples: one panel per framework, its algorithms in distinct colours and dashes,
    every other optimizer as a thin grey line (the shared reference), same axes in all panels.

    ``frame``: columns ``x, method, mean, se`` (as for ``plot_anytime``). With 17+ optimizers a
    reader can follow each line here, and compare it with the field in grey."""
    from mfbench.optimizers.registry import FRAMEWORKS, framework_of

    methods = list(dict.fromkeys(frame["method"]))
    groups: dict[str, list[str]] = {}
    for m in order_by_framework(methods):
        groups.setdefault(framework_of(m), []).append(m)
    fws = [f for f in (*FRAMEWORKS, *groups) if f in groups]
    fws = list(dict.fromkeys(fws))
    cols = min(len(fws), 4)
    rows = math.ceil(len(fws) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.6 * cols, 2.9 * rows + 0.5), sharex=True, sharey=True, squeeze=False
    )
    by = {m: g for m, g in frame.groupby("method", sort=False)}
    cmap = plt.get_cmap("tab10")
    for ax, fw in zip(axes.ravel(), fws, strict=False):
        for m in methods:
            if m not in groups[fw]:
                g = by[m]
                ax.plot(g["x"], np.clip(g["mean"], floor, None), drawstyle="steps-post", color="0.78", lw=0.8, zorder=1)
        for i, m in enumerate(groups[fw]):
            g = by[m]
            _band(
                ax,
                g["x"].to_numpy(),
                g["mean"].to_numpy(),
                g["se"].to_numpy(),
                floor,
                cmap(i % 10),
                FRAMEWORK_DASHES[i % len(FRAMEWORK_DASHES)],
                m,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(fw, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7.5, loc="lower left", frameon=True, framealpha=0.85)
    for ax in axes.ravel()[len(fws) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("normalized regret (log)", fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel(xlabel, fontsize=8)
    seeds = f", mean \u00b1 s.e. over {n_seeds} seeds" if n_seeds else ""
    fig.suptitle(f"{benchmark}: each framework against all other optimizers (grey){seeds}", fontsize=11)
    fig.tight_layout()
    return fig


def _legend_label(method: str) -> str:
    from mfbench.optimizers.registry import framework_of

    return f"{method} ({framework_of(method)})"


def plot_rank_over_time(
    frame: pd.DataFrame,
    *,
    colors: Mapping[str, tuple],
    styles: Mapping[str, str] | None = None,
    title: str,
    xlabel: str,
) -> Figure:
    """Average rank (1 = best) of each method against a common x grid; ``frame``: x, method, rank."""
    styles = styles or {}
    methods = list(dict.fromkeys(frame["method"]))
    fig, ax = plt.subplots(figsize=(8.0, 4.2))
    for m in order_by_framework(methods):
        g = frame[frame["method"] == m]
        ax.plot(
            g["x"],
            g["rank"],
            drawstyle="steps-post",
            color=colors.get(m, "k"),
            ls=styles.get(m, "-"),
            lw=1.8,
            label=_legend_label(m),
        )
    ax.set_xscale("log")
    ax.set_ylim(len(methods) + 0.2, 0.8)  # rank 1 (best) at the top
    ax.set_xlabel(xlabel)
    ax.set_ylabel("average rank (1 = best, at the top)")
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    # one column per 12 methods, so that a long legend stays beside the axes, clear of the title
    ax.legend(
        loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, ncol=1 + (len(methods) - 1) // 12, fontsize=9
    )
    fig.tight_layout()
    return fig


def plot_pvalues(p: pd.DataFrame, *, alpha: float, title: str) -> Figure:
    """Heatmap of Holm-adjusted pairwise p-values; cells below alpha are marked with a star."""
    k = len(p)
    size = max(4.2, 0.75 * k + 2.2)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    vals = p.to_numpy(dtype=float).copy()
    np.fill_diagonal(vals, np.nan)
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.92")
    # log colour scale: the interesting differences are between 0.001, 0.01 and alpha, not near 1
    lo = min(1e-3, float(np.nanmin(vals))) if k > 1 else 1e-3
    norm = LogNorm(vmin=max(lo, 1e-12), vmax=1.0)
    im = ax.imshow(np.clip(vals, norm.vmin, 1.0), cmap=cmap, norm=norm)
    ax.set_xticks(range(k), p.columns, rotation=40, ha="right")
    ax.set_yticks(range(k), p.index)
    for i in range(k):
        for j in range(k):
            if i == j:
                continue
            v = vals[i, j]
            ax.text(
                j,
                i,
                f"{v:.2g}" + ("*" if v < alpha else ""),
                ha="center",
                va="center",
                fontsize=8.5,
                color="white" if norm(max(v, norm.vmin)) < 0.6 else "black",
                fontweight="bold" if v < alpha else "normal",
            )
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cb.set_label("Holm-adjusted p-value (Wilcoxon signed-rank)")
    ax.set_title(title + f"\n* = significant at \u03b1 = {alpha:g}", fontsize=10)
    fig.tight_layout()
    return fig
