"""`mfbench replay`: parse, then delegate to ``mfbench.studies.replay.replay``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub, name, help_):
    from mfbench.studies.defaults import (
        DEFAULT_BUDGET,
        DEFAULT_OUT,
        DEFAULT_SEEDS,
        DEFAULT_STUDY_SEEDS,
        default_study_text,
        seeds_text,
    )

    p = sub.add_parser(
        name,
        help=help_,
        description=help_ + f". With no options: the default study ({default_study_text()}) "
        f"into {DEFAULT_OUT}, then the report.",
    )
    p.add_argument(
        "--benchmarks",
        default=None,
        help="comma-separated names or table/surrogate paths (default: the shipped ones; "
        "synthetic-grid and synthetic-cnn need no data)",
    )
    p.add_argument(
        "--suite",
        default=None,
        help="comma-separated suites, added to --benchmarks: digits (the shipped CNN benchmarks), "
        "lcbench (YAHPO Gym's 34 LCBench tasks; needs the lcbench extra), all",
    )
    p.add_argument(
        "--optimizers",
        default=None,
        help="comma-separated names or module:Class targets, or all (default: every usable one)",
    )
    p.add_argument(
        "--seeds",
        default=None,
        help=f"run seeds: 0,1,2 or 0-19 (default: {seeds_text(DEFAULT_SEEDS)}; the default study: "
        + ", ".join(f"{seeds_text(s)} on {b}" for b, s in DEFAULT_STUDY_SEEDS.items())
        + ")",
    )
    p.add_argument("--budget", default=DEFAULT_BUDGET, help="per run: 50x (full-budget trainings) or seconds (3600)")
    p.add_argument("--workers", type=int, default=1, help="simulated parallel workers per run")
    p.add_argument("--jobs", type=int, default=None, help="runs in parallel on this machine (default: cores)")
    p.add_argument("--dask", default=None, metavar="ADDRESS", help="scheduler address of an existing Dask cluster")
    p.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="run each run as a Ray task: HOST:PORT of a Ray cluster, auto, or local (needs the ray extra)",
    )
    p.add_argument("--out", default=DEFAULT_OUT, help="the study's folder (reruns skip finished runs)")
    p.add_argument("--count-overhead", action="store_true", help="add the optimizer's measured time to the clock")
    p.add_argument("--max-evals", type=int, default=100_000, help="stop a run after this many evaluations")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show everything the libraries print (default: into the study's replay.log and "
        "logs/<run>.log; the terminal shows the progress bar and the summary)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from mfbench.cli.args import names, parse_int_list
    from mfbench.core.errors import UsageError
    from mfbench.core.runlog import preparing, quiet_terminal
    from mfbench.studies.replay import replay

    opts = names(args.optimizers)
    given = (("--benchmarks", args.benchmarks, names(args.benchmarks)), ("--optimizers", args.optimizers, opts))
    for option, text, listed in given:
        if text is not None and not listed:
            raise UsageError(f"{option} names nothing (omit it for the default)")
    benchmarks = names(args.benchmarks)
    if args.suite:
        from mfbench.objectives.registry import SUITES

        bad = [s for s in names(args.suite) or [] if s not in SUITES]
        if bad:
            raise UsageError(f"unknown suite {bad[0]!r}; known: {', '.join(SUITES)}")
        benchmarks = [*(benchmarks or []), *names(args.suite)]
    verbose = bool(getattr(args, "verbose", False))  # `mfbench -v replay` or `mfbench replay -v`
    with quiet_terminal(Path(args.out) / "replay.log", enabled=not verbose):
        if not args.no_progress:
            preparing("replay: loading the benchmarks and the optimizers' libraries")
        res = replay(
            benchmarks=benchmarks,
            optimizers="all" if opts == ["all"] else opts,
            seeds=None if args.seeds is None else parse_int_list(args.seeds, "--seeds"),
            budget=args.budget,
            workers=args.workers,
            jobs=args.jobs,
            dask=args.dask,
            ray=args.ray,
            out=args.out,
            count_overhead=args.count_overhead,
            max_evals=args.max_evals,
            progress=not args.no_progress,
            command=" ".join(["mfbench", *sys.argv[1:]]),
            quiet=not verbose,
        )
        if not args.no_report:
            from mfbench.analysis.report import write_report_safely

            res.report = write_report_safely(res.out)
    print_summary(res)
    return 1 if res.all_failed else 0


def print_summary(res) -> None:
    """The study in one line, then one table per benchmark (its gate line under a surrogate's):
    per benchmark, so that optimizer names are never cut, even on an 80-column terminal."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)  # a file or pipe gets whole names, unwrapped
    console.print(
        f"{res.out}: ran {res.ran}, skipped {res.skipped} (already done), ok {res.ok}, failed {res.failed}, "
        f"{res.seconds:.0f} s",
        highlight=False,
    )
    gates = dict(getattr(res, "gates", {}))
    by_bench: dict[str, list] = {}
    for r in res.summary:
        by_bench.setdefault(r["benchmark"], []).append(r)
    for bench, rows in by_bench.items():
        table = Table(title=bench, title_justify="left")
        table.add_column("optimizer", no_wrap=True)
        for col in ("runs", "final regret", "final norm. regret", "evals", "repeats", "overhead /eval"):
            table.add_column(col, justify="right")
        for r in rows:
            runs = str(r["ok"]) + (f" ({r['failed']} failed)" if r["failed"] else "")
            table.add_row(
                r["optimizer"],
                runs,
                f"{r['mean_final_regret']:.4f}",
                f"{r['mean_final_normalized_regret']:.4f}",
                f"{r['mean_evals']:.1f}",
                f"{r.get('mean_repeats', float('nan')):.1f}",
                f"{r['mean_overhead_seconds'] * 1e3:.2f} ms",
            )
        console.print(table)
        if bench in gates:
            console.print(f"{bench}: {gates.pop(bench)}", highlight=False, markup=False)
    for bench, line in gates.items():  # a benchmark without rows (every run failed)
        console.print(f"{bench}: {line}", highlight=False, markup=False)
    for line in getattr(res, "notices", []):
        console.print(f"note: {line}", highlight=False)
    for f in res.failures[:20]:
        print(f"failed: {f['benchmark']} / {f['optimizer']} / seed {f['seed']}: {f['error']}", file=sys.stderr)
    if (res.out / "replay.log").exists() or (res.out / "logs").is_dir():
        console.print(f"library output: {res.out / 'replay.log'}, {res.out / 'logs'}/", highlight=False)
    if res.report is not None:
        console.print(f"report: {res.report}")
