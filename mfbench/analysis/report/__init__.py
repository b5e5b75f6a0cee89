"""The report of a replay: CD diagrams, pairwise tests, anytime curves, tables, manifest.

One job per module, in the order the data flows:

- ``load``: read a replay directory, decide which runs are analysed (``load_study``);
- ``compute``: every number (score tables, curves, comparisons, final and framework tables),
  written under ``data/`` with the figures under ``figures/``;
- ``sections``: the report's words, once, as the section model of ``model``;
- ``render_markdown`` / ``render_html``: that model as report.md / index.html;
- ``write``: ``write_report`` runs them in turn.

The rules (which runs count, the metric, the blocks) are stated in the report itself and in the
docstrings of ``load`` and ``compute``.
"""

from mfbench.analysis.report.compute import FRACTION_TOL, GRID_POINTS, curves, score_tables, values_at
from mfbench.analysis.report.load import REQUIRED_COLUMNS, RUN_KEY, StudyData, load_study
from mfbench.analysis.report.sections import SECTIONS, build_report
from mfbench.analysis.report.write import write_report, write_report_safely

__all__ = [
    "FRACTION_TOL",
    "GRID_POINTS",
    "REQUIRED_COLUMNS",
    "RUN_KEY",
    "SECTIONS",
    "StudyData",
    "build_report",
    "curves",
    "load_study",
    "score_tables",
    "values_at",
    "write_report",
    "write_report_safely",
]
