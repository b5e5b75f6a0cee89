"""`mfbench cd RESULTS.csv`: Friedman / Nemenyi / Holm–Wilcoxon and a CD diagram for any results table."""

from __future__ import annotations

import json
from pathlib import Path

from mfbench.core.errors import UsageError


def add_parser(sub, name, help_):
    p = sub.add_parser(
        name,
        help=help_,
        description=help_ + ". RESULTS.csv is long (block, method, value "
        "columns; common header names such as dataset/algorithm/score are accepted) or wide (first "
        "column the block, one column per method). Blocks with a missing value are dropped and listed.",
    )
    p.add_argument("results", help="CSV table of results")
    p.add_argument("--out", help="CD diagram (.png, .svg or .pdf; default: RESULTS_cd.png beside the table)")
    p.add_argument("--json", dest="json_path", help="write the statistics as JSON here")
    p.add_argument("--higher-is-better", action="store_true", help="values are scores (default: lower is better)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--title", default=None, help="title of the diagram")
    p.set_defaults(func=run)


def run(args) -> int:
    from matplotlib.backend_bases import FigureCanvasBase

    from mfbench.analysis import plots
    from mfbench.analysis.stats import compare_optimizers, load_results
    from mfbench.core.io import atomic_write_text, check_output_file

    if not 0 < args.alpha < 1:
        raise UsageError("--alpha must be between 0 and 1")
    src = Path(args.results)
    out = Path(args.out) if args.out else src.with_name(src.stem + "_cd.png")
    kinds = FigureCanvasBase.get_supported_filetypes()
    if out.suffix.lower().lstrip(".") not in kinds:
        raise UsageError(f"--out {out}: a figure is written as {', '.join('.' + k for k in sorted(kinds))}")
    check_output_file(out, (src,), "--out")
    if args.json_path:
        check_output_file(args.json_path, (src, out), "--json")
    scores = load_results(args.results)
    comp = compare_optimizers(scores, higher_is_better=args.higher_is_better, alpha=args.alpha)
    direction = "higher is better" if args.higher_is_better else "lower is better"
    fig = plots.plot_cd(
        comp,
        title=args.title or f"{src.name} ({direction})",
        blocks_note=f"blocks: {comp.n_blocks} rows of {src.name}\n{comp.split_half.short()}",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(out, dpi=150, bbox_inches="tight")
    except ValueError as exc:  # an extension matplotlib cannot write
        raise UsageError(f"cannot write {out}: {exc}") from None
    if args.json_path:
        atomic_write_text(args.json_path, json.dumps(comp.to_dict(), indent=2))
    print(f"{comp.n_blocks} blocks x {len(comp.methods)} methods ({direction}; rank 1 = best)")
    for m, r in comp.average_ranks.sort_values().items():
        print(f"  {r:6.3f}  {m}")
    print(
        f"Friedman chi2 = {comp.friedman_chi2:.3f} (p = {comp.friedman_p:.3g}); Iman-Davenport F = "
        f"{comp.iman_davenport_f:.3f} (p = {comp.iman_davenport_p:.3g}) -> "
        f"{'reject' if comp.significant else 'no significant difference'} at alpha = {comp.alpha:g}"
    )
    print(
        f"Nemenyi CD = {comp.critical_difference:.3f}; groups: "
        + ("; ".join("{" + ", ".join(c) + "}" for c in comp.cd_cliques) or "none")
    )
    print(f"Would the verdict reproduce? {comp.split_half.reading()}")
    for b in comp.dropped_blocks:
        print(f"dropped block {b['block']}: {b['reason']}")
    print(f"wrote {out}" + (f" and {args.json_path}" if args.json_path else ""))
    return 0
