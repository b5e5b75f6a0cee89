"""The command line: one module per command, each only parsing and delegating to the API.

Every command module defines ``add_parser(subparsers)`` (which sets ``func``) and nothing
heavier at import time, so that ``python -m mfbench --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from mfbench.errors import UsageError

#: command -> one-line help; the module ``mfbench.cli.<command>`` implements it
COMMANDS = {
    "collect": "train CNNs over a design of configs x seeds x budgets into a table (resumable)",
    "info": "what a table, a surrogate or the shipped benchmarks hold",
    "benchmarks": "every benchmark and suite: kind, dimensions, ladder, fidelity semantics, optimum, data",
    "download": "fetch external benchmark data (YAHPO Gym's LCBench), checked by sha256",
    "export": "export a table to parquet",
    "fit": "fit surrogate models on a table, with a quality report per slice",
    "validate": "how faithful a surrogate is to a table it never saw",
    "replay": "run optimizers x seeds against cheap objectives in simulated time",
    "tune": "live HPO against the real objective (trains now, grows the table)",
    "report": "statistical comparison of a replay: CD diagrams, anytime regret, rank tables",
    "cd": "critical-difference statistics and diagram for any table of results",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mfbench",
        description="Multi-fidelity benchmarking of HPO methods on CNNs.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_ in COMMANDS.items():
        module = importlib.import_module(f"mfbench.cli.{name}")
        module.add_parser(sub, name, help_)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"mfbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mfbench {args.command}: interrupted", file=sys.stderr)
        return 130
