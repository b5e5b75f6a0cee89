"""`mfbench collect`: parse, then delegate to ``mfbench.tables.collect.collect``."""

from __future__ import annotations

import sys


def add_parser(sub, name, help_):
    p = sub.add_parser(name, help=help_, description=help_)
    p.add_argument("--dataset", default="digits", help="digits, mnist5k, mnist, fashion-mnist, cifar10, cifar100, svhn")
    p.add_argument("--space", default="cnn", help="cnn or cnn-grid")
    p.add_argument("--design", default="sobol", choices=["sobol", "random", "grid", "file"])
    p.add_argument("--n-configs", type=int, default=None, help="configs for sobol/random designs")
    p.add_argument("--design-seed", type=int, default=0)
    p.add_argument("--config-file", default=None, help="JSON list or CSV of configs (design 'file')")
    p.add_argument("--seeds", default="0,1,2", help="training seeds: 0,1,2 or 0-4")
    p.add_argument("--budgets", default="1,3,9,27", help="epoch ladder")
    p.add_argument("--db", required=True, help="the table to create or resume (SQLite)")
    p.add_argument("--benchmark", default=None, help="benchmark name recorded in the table (default: file stem)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (CPU)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--trials-per-gpu", default="1", help="trials packed on one GPU at once, or 'auto'")
    p.add_argument(
        "--fuse",
        default="auto",
        metavar="auto|off|N",
        help="train trials of the same network shapes (first every seed and schedule of a configuration) as "
        "one fused model: auto (default) fuses groups of up to 12 on the CPU when the plan has trials to fuse, "
        "no --folds, and the table holds no lone runs; on CUDA it trains lone trials packed on the GPU; "
        "off: lone trials; N: fused groups of at most N",
    )
    p.add_argument("--dask", default=None, metavar="ADDRESS", help="scheduler address of an existing Dask cluster")
    p.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="run each training as a Ray task: HOST:PORT of a Ray cluster, auto, or local (needs the ray "
        "extra); --trials-per-gpu N gives each 1/N of a GPU",
    )
    p.add_argument("--data-dir", default=None)
    p.add_argument("--folds", type=int, default=0, help="k-fold cross-validation over train+validation (k >= 2)")
    p.add_argument("--max-trials", type=int, default=None, help="stop after this many trials (resume later)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from mfbench.cli.args import parse_int_list
    from mfbench.core.errors import UsageError
    from mfbench.core.extras import require
    from mfbench.tables.collect import collect

    if not args.dry_run:
        require("torch", "collect")
    tpg = args.trials_per_gpu
    if tpg != "auto":
        try:
            tpg = int(tpg)
        except ValueError:
            raise UsageError("--trials-per-gpu must be an integer or 'auto'") from None
    s = collect(
        dataset=args.dataset,
        space=args.space,
        db=args.db,
        design=args.design,
        n_configs=args.n_configs,
        seeds=parse_int_list(args.seeds, "--seeds"),
        budgets=parse_int_list(args.budgets, "--budgets"),
        workers=args.workers,
        device=args.device,
        trials_per_gpu=tpg,
        dask=args.dask,
        ray=args.ray,
        data_dir=args.data_dir,
        folds=args.folds,
        design_seed=args.design_seed,
        config_file=args.config_file,
        benchmark=args.benchmark,
        progress=not args.no_progress,
        dry_run=args.dry_run,
        max_trials=args.max_trials,
        fuse=args.fuse,
    )
    print(
        f"planned {s.planned} trainings, {s.skipped} already in the table; ran {s.ran}: ok {s.ok}, "
        f"diverged {s.diverged}, failed {s.failed}; {s.epochs} epochs in {s.seconds:.0f} s "
        f"({s.epochs_per_second:.1f} epochs/s)"
    )
    for f in s.failures[:20]:
        print(f"  failed: {f}", file=sys.stderr)
    return 0
