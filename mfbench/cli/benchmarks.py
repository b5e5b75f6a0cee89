"""`mfbench benchmarks [--suite S]`: every benchmark mfbench knows, and what it means."""

from __future__ import annotations

import json


def add_parser(sub, name, help_):
    p = sub.add_parser(name, help=help_, description=help_)
    p.add_argument("--suite", default="all", help="comma-separated suites: digits, lcbench, all (default)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    from mfbench.cli.args import names
    from mfbench.core.errors import UsageError
    from mfbench.objectives.registry import describe, suite

    suites = names(args.suite)  # comma-separated, as `replay --suite` takes them
    if not suites:
        raise UsageError("--suite names nothing (omit it for all)")
    rows, missing = [], []
    members = [suite(s) for s in suites]  # an unknown suite: one line naming the known ones
    for name in dict.fromkeys(n for m in members for n in m):  # a benchmark two suites share, once
        try:
            rows.append(describe(name))
        except UsageError as exc:  # data or an extra missing: list the others, say why this one is not
            missing.append({"name": name, "unavailable": str(exc)})
    if args.json:
        print(json.dumps(rows + missing, indent=1))
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    t = Table(title=f"suite {args.suite}: {len(rows)} benchmarks available")
    for col in ("benchmark", "kind", "dims", "ladder", "optimum (val error)", "optimum source", "faithfulness"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["name"],
            r["kind"],
            str(r["dimensions"]),
            ",".join(map(str, r["ladder"])),
            f"{r['optimum']:.4f}",
            r["optimum_source"],
            r.get("faithfulness", ""),
        )
    console.print(t)
    for r in rows:  # a surrogate: how far it passes its gates (surrogates.gates), beside its name
        if r.get("gates"):
            console.print(Text.assemble((r["name"], "bold"), ": ", r["gates"]))
    seen = set()
    for r in rows:  # the semantics, once per kind of benchmark
        key = (r["fidelity"], r["noise"], r["data"].rsplit(",", 1)[0] if r["kind"] == "yahpo" else r["data"])
        if key[:2] in seen:
            continue
        seen.add(key[:2])
        console.print(
            f"[bold]{r['name']}{' (and the other lcbench tasks)' if r['kind'] == 'yahpo' else ''}[/bold]: "
            f"fidelity: {r['fidelity']}; noise: {r['noise']}; data: {r['data']}"
        )
    why: dict[str, list[str]] = {}
    for m in missing:  # one line per reason (a missing extra makes all 34 lcbench tasks unavailable)
        why.setdefault(m["unavailable"], []).append(m["name"])
    for reason, which in why.items():
        console.print(
            f"[yellow]unavailable: {', '.join(which) if len(which) <= 3 else f'{len(which)} benchmarks'}: "
            f"{reason}[/yellow]"
        )
    return 0
