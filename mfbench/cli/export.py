"""`mfbench export DB --parquet OUT`."""

from __future__ import annotations


def add_parser(sub, name, help_):
    p = sub.add_parser(name, help=help_, description=help_)
    p.add_argument("db")
    p.add_argument("--parquet", required=True, help="output file")
    p.set_defaults(func=run)


def run(args) -> int:
    from mfbench.tables.table import export_parquet

    out = export_parquet(args.db, args.parquet)
    print(f"wrote {out}")
    return 0
