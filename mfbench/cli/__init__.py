"""The command line: one module per command, each only parsing and delegating to the API.

Every command module defines ``add_parser(subparsers)`` (which sets ``func``) and nothing
heavier at import time, so that ``python -m mfbench --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sqlite3
import sys
import traceback
from typing import NoReturn

from mfbench.core.errors import UsageError

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


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (argparse prints the whole usage
    first) and exit status 2; ``--help`` still shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see '{self.prog} --help')\n")


def one_line(text: object) -> str:
    """``text`` on one line (ConfigSpace and others write messages over several lines)."""
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="mfbench",
        description="Multi-fidelity benchmarking of HPO methods on CNNs.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_ in COMMANDS.items():
        module = importlib.import_module(f"mfbench.cli.{name}")
        module.add_parser(sub, name, help_)
    return parser


#: exceptions that say the input is bad (a file that cannot be read or written, a database that
#: is not one, text that is not JSON): exit status 2, like a ``UsageError``
BAD_INPUT: tuple[type[BaseException], ...] = (OSError, sqlite3.DatabaseError, UnicodeDecodeError, json.JSONDecodeError)


def describe(exc: BaseException) -> str:
    """One line for an exception: its message, and the file it concerns when it names one."""
    if isinstance(exc, UsageError):
        return one_line(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        what = exc.strerror or type(exc).__name__
        other = f" -> {exc.filename2}" if exc.filename2 else ""
        return one_line(f"{exc.filename}{other}: {what}")
    return one_line(f"{type(exc).__name__}: {exc}") or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run one command. Bad input is one line on stderr and exit status 2; an unexpected error is
    one line and exit status 1 (``--debug`` shows its traceback); Ctrl-C is 130."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]  # accepted before or after the command
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    prefix = f"mfbench {args.command}"
    hint = "" if debug else " (rerun with --debug for the traceback)"
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"{prefix}: error: {describe(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except BAD_INPUT as exc:
        if debug:
            traceback.print_exc()
        print(f"{prefix}: error: {describe(exc)}{hint}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001  (the last resort: one line, not a traceback)
        if debug:
            traceback.print_exc()
        print(f"{prefix}: internal error: {describe(exc)}{hint}", file=sys.stderr)
        return 1
