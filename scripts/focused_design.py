"""A second CNN design that spends trainings where configurations learn (issue 22's data lever).

Half of the shipped Sobol design (``tabular/digits-cnn.sqlite``) ends above 50 % validation
error at 27 epochs, where ranking configurations is mostly ranking noise. This design has two
parts, written as one JSON list for ``collect --design file``:

- ``best``: a scrambled Sobol pool of the ``cnn`` space (``--pool`` points, seed
  ``--design-seed``), ranked by the shipped surrogate's noise-free validation error at the
  largest budget; of the best ``--quantile`` of it, the first ``--n-best`` in Sobol order (a
  prefix of a Sobol sequence stays spread out, and so does its filtered subsequence, roughly).
- ``corner``: the corner of the space the exact grid (``digits-grid``) covers — batch norm,
  ReLU, no dropout, no label smoothing — with every other hyperparameter from a Sobol design
  (``--n-corner`` points): the held-out grid gate is scored there.

Configurations already in the tables given with ``--exclude`` are left out, as are duplicates.
Every configuration is checked against the space (``validate_config``).

    python scripts/focused_design.py --out runs/collect/digits-cnn-focus.json
    python -m mfbench collect --dataset digits --space cnn --design file \\
        --config-file runs/collect/digits-cnn-focus.json --seeds 0,1,2 --budgets 1,3,9,27 \\
        --db runs/collect/digits-cnn-focus.sqlite --benchmark digits-cnn-focus
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

CORNER = {"batch_norm": True, "activation": "relu", "dropout": 0.0, "label_smoothing": 0.0}


def main(argv: list[str] | None = None) -> int:
    from mfbench.objectives.surrogate import SurrogateObjective
    from mfbench.tables.table import load_table
    from mfbench.training.space import config_id, get_space, sample_configs, validate_config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--surrogate", default="surrogates/digits-cnn")
    ap.add_argument("--pool", type=int, default=8192)
    ap.add_argument("--quantile", type=float, default=0.2)
    ap.add_argument("--n-best", type=int, default=128)
    ap.add_argument("--n-corner", type=int, default=64)
    ap.add_argument("--design-seed", type=int, default=22)
    ap.add_argument("--exclude", action="append", default=["tabular/digits-cnn.sqlite", "tabular/digits-grid.sqlite"])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.out.exists():
        print(f"{args.out}: exists; not overwritten", file=sys.stderr)
        return 2
    if not 0 < args.quantile <= 1 or min(args.pool, args.n_best, args.n_corner) < 0:
        print("need 0 < --quantile <= 1 and non-negative counts", file=sys.stderr)
        return 2

    cs = get_space("cnn")
    seen = {config_id(c) for path in args.exclude for c in load_table(path).configs}
    objective = SurrogateObjective(args.surrogate)
    top = objective.budgets[-1]

    pool = sample_configs(cs, args.pool, args.design_seed, "sobol")
    mean = objective.predict_arrays(pool, top, np.zeros(len(pool), dtype=np.int64))["val_mean"]
    cut = float(np.quantile(mean, args.quantile))
    best = []
    for c, m in zip(pool, mean, strict=True):
        if m <= cut and config_id(c) not in seen and len(best) < args.n_best:
            seen.add(config_id(c))
            best.append(c)

    corner = []
    for c in sample_configs(cs, 4 * args.n_corner + 64, args.design_seed + 1, "sobol"):
        c = validate_config(cs, {**c, **CORNER})
        if config_id(c) not in seen and len(corner) < args.n_corner:
            seen.add(config_id(c))
            corner.append(c)

    configs = [validate_config(cs, c) for c in best + corner]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(configs, indent=1, sort_keys=True) + "\n")
    pred = objective.predict_arrays(configs, top, np.zeros(len(configs), dtype=np.int64))["val_mean"]
    print(
        f"{args.out}: {len(best)} best (predicted val error at {top} epochs <= {cut:.3f}, the best "
        f"{args.quantile:.0%} of {len(pool)} Sobol points) + {len(corner)} in the grid's corner "
        f"({', '.join(f'{k}={v}' for k, v in CORNER.items())}); predicted val error median "
        f"{np.median(pred[: len(best)]):.3f} (best) / {np.median(pred[len(best) :]):.3f} (corner), "
        f"pool median {np.median(mean):.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
