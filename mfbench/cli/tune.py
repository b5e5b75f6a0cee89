"""`mfbench tune` (not built yet: see its issue)."""

from mfbench.errors import UsageError


def add_parser(sub, name, help_):
    p = sub.add_parser(name, help=help_ + " [not built yet]")
    p.set_defaults(func=run)


def run(args):
    raise UsageError("'tune' is not built yet")
