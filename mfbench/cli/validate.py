"""`mfbench validate --surrogate DIR --table GRID.sqlite`: how faithful a surrogate is to a
table it never saw; delegates to ``mfbench.studies.validate.faithfulness``."""

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
    p.add_argument(
        "--record",
        action="store_true",
        help="record the gate figures (held-out Spearman >= 0.9 at every budget; with --optimizers, ranking "
        "agreement >= the table's own) in the surrogate's manifest, beside fit's (model files untouched)",
    )
    p.add_argument(
        "--optimizers",
        default=None,
        help="also replay these optimizers (comma-separated, or all) on the table and on the surrogate "
        "served on its configurations, and compare their rankings; the table is also replayed "
        "on as many further seeds, to compare it with itself (the noise ceiling)",
    )
    # defaults from digits-grid: at 30x with 5 seeds the table's ranking did not reproduce on
    # 5 other seeds (Spearman 0.20); at 10x with 20 it did (0.79)
    p.add_argument("--seeds", default="0-19", help="with --optimizers: run seeds (0,1,2 or 0-9)")
    p.add_argument("--budget", default="10x", help="with --optimizers: budget per run")
    p.add_argument("--runs", default="runs/validate", help="with --optimizers: the replay folder (resumable)")
    p.add_argument("--jobs", type=int, default=None, help="with --optimizers: runs in parallel")
    p.set_defaults(func=run)


def run(args) -> int:
    from mfbench.core.errors import UsageError
    from mfbench.core.io import atomic_write_text, check_output_file
    from mfbench.studies.validate import faithfulness, print_faithfulness, print_ranking, ranking_agreement

    if args.top < 1:
        raise UsageError("--top must be at least 1")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.out:
        check_output_file(args.out, (args.table, Path(args.surrogate) / "manifest.json"), "--out")
    res = faithfulness(args.surrogate, args.table, top=args.top)
    if not args.json:
        print_faithfulness(res, top=args.top)
    if args.optimizers:
        from mfbench.cli.args import names, parse_int_list

        seeds = parse_int_list(args.seeds, "--seeds")
        opts = names(args.optimizers)
        res["ranking"] = ranking_agreement(
            args.surrogate,
            args.table,
            "all" if opts == ["all"] else opts,
            seeds,
            args.budget,
            args.runs,
            jobs=args.jobs,
            progress=not args.json,
        )
        if not args.json:
            print_ranking(res["ranking"])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, json.dumps(res, indent=2) + "\n")
    if args.record:
        line = _record(args.surrogate, args.table, res)
        if not args.json:
            print(f"recorded in {Path(args.surrogate) / 'manifest.json'}: {line}")
    if args.json:
        print(json.dumps(res, indent=2))
    return 0


def _record(surrogate: str, table: str, res: dict) -> str:
    """Merge this result's gates into the surrogate's checked gate record, write it, and
    return its gate line."""
    from mfbench.core.errors import read_json
    from mfbench.surrogates.gates import gate_line, merge, read_gates, validate_gates
    from mfbench.surrogates.store import read_manifest, write_gate_record

    path = Path(surrogate)
    quality = read_json(path / "quality.json") if (path / "quality.json").exists() else None
    old, _ = read_gates(read_manifest(path), quality if isinstance(quality, dict) else None)
    rec = merge(old, validate_gates(res), source="validate", validated_on=Path(table).name)
    write_gate_record(path, rec)
    return gate_line(rec)
