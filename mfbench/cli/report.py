"""`mfbench report RUN_DIR`: the statistical report of a replay (HTML, Markdown, figures, data)."""

from __future__ import annotations

from mfbench.core.errors import UsageError


def _fractions(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--budgets takes comma-separated fractions such as 0.25,1.0, got {text!r}") from None


def add_parser(sub, name, help_):
    p = sub.add_parser(name, help=help_, description=help_)
    p.add_argument("run_dir", help="a replay directory (runs/NAME with manifest.json)")
    p.add_argument("--out", help="output folder (default: RUN_DIR/report)")
    p.add_argument("--budgets", default="0.25,1.0", help="budget fractions for the statistics (default 0.25,1.0)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument(
        "--min-benchmarks",
        type=int,
        default=5,
        help="benchmarks are the blocks when there are at least this many; else the seeds of each "
        "benchmark are (default 5)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from mfbench.analysis.report import write_report

    index = write_report(
        args.run_dir,
        args.out,
        budgets=_fractions(args.budgets),
        alpha=args.alpha,
        min_benchmark_blocks=args.min_benchmarks,
    )
    print(index)
    return 0
