"""``write_report``: load a study, compute, put it into words, render both formats, write them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from mfbench.analysis.report import render_html, render_markdown
from mfbench.analysis.report.compute import analyse
from mfbench.analysis.report.load import load_study
from mfbench.analysis.report.sections import build_report
from mfbench.core.errors import UsageError

# the package's name: the one the report has always logged under
log = logging.getLogger("mfbench.analysis.report")


def write_report(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    budgets: Sequence[float] = (0.25, 1.0),
    alpha: float = 0.05,
    *,
    min_benchmark_blocks: int = 5,
    floor: float = 1e-4,
) -> Path:
    """Write the report of a replay directory; return the path of its ``index.html``.

    ``out_dir`` (default ``run_dir/report``) gets ``index.html`` (figures inlined as base64 PNG),
    ``report.md``, ``figures/`` (PNG and SVG) and the numbers behind every figure under ``data/``.
    """
    budgets = [float(f) for f in budgets]
    if not budgets or any(not 0.0 < f <= 1.0 for f in budgets):
        raise UsageError(f"budget fractions must be in (0, 1], got {budgets}")
    if not 0.0 < alpha < 1.0:
        raise UsageError(f"alpha must be in (0, 1), got {alpha}")
    replay = load_study(run_dir)
    out = Path(out_dir) if out_dir is not None else replay.run_dir / "report"
    report = build_report(analyse(replay, out, budgets, alpha, min_benchmark_blocks, floor))
    (out / "report.md").write_text(render_markdown.render(report))
    index = out / "index.html"
    index.write_text(render_html.render(report))
    log.info("wrote report to %s", index)
    return index


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
