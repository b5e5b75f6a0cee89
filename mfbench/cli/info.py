"""`mfbench info PATH`: what a table or a surrogate folder holds."""

from __future__ import annotations

import json


def add_parser(sub, name, help_):
    p = sub.add_parser(name, help=help_, description=help_)
    p.add_argument(
        "path",
        help="a table (.sqlite), a surrogate folder (from 'mfbench fit'), or a benchmark "
        "name or suite (digits, lcbench, all)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from mfbench.core.errors import UsageError
    from mfbench.objectives.registry import SHIPPED, SUITES

    if not Path(args.path).exists() and (
        args.path in SUITES or args.path in SHIPPED or args.path.startswith("lcbench")
    ):
        from mfbench.objectives.registry import describe, suite

        rows = [describe(n) for n in (suite(args.path) if args.path in SUITES else [args.path])]
        print(json.dumps(rows if len(rows) > 1 else rows[0], indent=2))
        return 0
    from mfbench.tables.table import info

    path = Path(args.path)
    if path.is_dir():
        if not (path / "manifest.json").is_file():
            raise UsageError(f"{path} is a folder without manifest.json: neither a table nor a surrogate")
        from mfbench.surrogates.store import surrogate_info

        d = surrogate_info(path)
    else:
        d = info(args.path)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(title=d["path"], show_header=False)
    for k, v in d.items():
        if k != "path":
            t.add_row(k, v if isinstance(v, str) else json.dumps(v))
    Console().print(t)
    return 0
