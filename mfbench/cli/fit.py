"""`mfbench fit TABLE --out DIR`: parse, then delegate to ``mfbench.surrogates.fit_surrogate``."""

from __future__ import annotations

import json


def add_parser(sub, name, help_):
    p = sub.add_parser(name, help=help_, description=help_)
    p.add_argument("table", help="the training table (.sqlite)")
    p.add_argument("--out", required=True, help="surrogate folder to write (replaced atomically)")
    p.add_argument(
        "--families", default=None, help="model families to compare (comma-separated; default: every known family)"
    )
    p.add_argument("--folds", type=int, default=5, help="GroupKFold splits, grouped by configuration")
    p.add_argument("--targets", default="val_error,test_error", help="targets besides noise and cost models")
    p.add_argument("--n-estimators", type=int, default=100, help="trees per forest (boosting: 3x iterations)")
    p.add_argument(
        "--reference-samples",
        type=int,
        default=20_000,
        help="random configs whose predictions give the optimum and bounds",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="cap threads (default: all cores)")
    p.add_argument(
        "--allow-below-gate",
        action="store_true",
        help="write the surrogate even when it misses a gate (slice Spearman below the 1-seed ceiling, "
        "noise coverage outside 0.8 +- 0.05); recorded in its manifest",
    )
    p.add_argument("--json", action="store_true", help="print the quality report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from mfbench.core.errors import UsageError
    from mfbench.surrogates.fit import fit_surrogate
    from mfbench.surrogates.model import FAMILIES
    from mfbench.surrogates.quality import print_rich

    families = (
        [f.strip() for f in args.families.split(",") if f.strip()] if args.families is not None else list(FAMILIES)
    )
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not families:
        raise UsageError(f"--families names no family; known: {', '.join(FAMILIES)}")
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise UsageError(f"unknown model family {unknown[0]!r}; known: {', '.join(FAMILIES)}")
    if args.folds < 2:
        raise UsageError("--folds must be at least 2")
    for opt, value in (
        ("--n-estimators", args.n_estimators),
        ("--reference-samples", args.reference_samples),
        ("--threads", args.threads),
    ):
        if value is not None and value < 1:
            raise UsageError(f"{opt} must be at least 1")
    if args.n_estimators > 100_000 or args.reference_samples > 10_000_000:
        raise UsageError("--n-estimators (at most 100000) or --reference-samples (at most 10000000) is too large")
    surr = fit_surrogate(
        args.table,
        args.out,
        families=families,
        folds=args.folds,
        seed=args.seed,
        n_estimators=args.n_estimators,
        targets=targets,
        n_reference=args.reference_samples,
        threads=args.threads,
        allow_below_gate=args.allow_below_gate,
    )
    if args.json:
        print(json.dumps(surr.quality, indent=2, default=str))
    else:
        print_rich(surr.quality)
        ref = surr.manifest["reference"]
        chosen = ", ".join(f"{t}={e['family']}" for t, e in surr.manifest["models"].items())
        print(
            f"wrote {args.out}: models {chosen}; optimum val error {ref['optimum']['val_error']:.4f}"
            f" (table best {ref['table_best_val_error']:.4f})"
        )
        from mfbench.surrogates.gates import gate_line

        print(gate_line(surr.manifest["gates"]))
    return 0
