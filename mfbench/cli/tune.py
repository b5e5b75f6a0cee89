"""`mfbench tune`: parse, then delegate to ``mfbench.studies.tune.tune``."""

from __future__ import annotations

import sys


def add_parser(sub, name, help_):
    p = sub.add_parser(name, help=help_, description=help_ + ". Output: the same format as replay.")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--optimizer", default="random")
    p.add_argument(
        "--budget", default="20x", help="20x (multiples of a first measured max-budget training) or wall-clock seconds"
    )
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--db",
        default=None,
        help="the table every training is appended to (default tabular/<dataset>-<space>-tune.sqlite)",
    )
    p.add_argument("--space", default="cnn", help="cnn or cnn-grid")
    p.add_argument("--out", default=None, help="default runs/tune-<dataset>-<space>-<optimizer>-<seed>")
    p.add_argument("--budgets", default="1,3,9,27", help="epoch ladder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-evals", type=int, default=100_000)
    p.set_defaults(func=run)


def run(args) -> int:
    from mfbench.cli.args import parse_int_list
    from mfbench.cli.replay import print_summary
    from mfbench.core.extras import require
    from mfbench.studies.tune import tune

    require("torch", "tune")
    res = tune(
        dataset=args.dataset,
        optimizer=args.optimizer,
        budget=args.budget,
        device=args.device,
        db=args.db,
        space=args.space,
        out=args.out,
        budgets=parse_int_list(args.budgets, "--budgets"),
        seed=args.seed,
        max_evals=args.max_evals,
        command=" ".join(["mfbench", *sys.argv[1:]]),
    )
    print_summary(res)
    return 0
