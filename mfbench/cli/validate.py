"""`mfbench validate --surrogate DIR --table GRID.sqlite`: how faithful a surrogate is to a
table it never saw; delegates to ``mfbench.surrogates.faithfulness``."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(sub, name, help_):
    p = sub.add_parser(name, help=help_, description=help_)
    p.add_argument("--surrogate", required=True, help="a surrogate folder (from 'mfbench fit')")
    p.add_argument("--table", required=True, help="a table the surrogate was not fitted on")
    p.add_argument("--top", type=int, default=10, help="size of the top sets compared")
    p.add_argument("--out", default=None, help="also write the figures as JSON here")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    from mfbench.errors import UsageError
    from mfbench.surrogates.validate import faithfulness, print_faithfulness

    if args.top < 1:
        raise UsageError("--top must be at least 1")
    res = faithfulness(args.surrogate, args.table, top=args.top)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print_faithfulness(res, top=args.top)
    return 0
