"""How the surrogate's quality grows with the number of configurations in its table.

    python scripts/surrogate_learning_curve.py [tabular/digits-cnn.sqlite] [--family hist_gbm_small]

For random subsets of 1/4, 1/2, 3/4 and all of the table's configurations (3 draws each), the
same grouped 5-fold cross-validation as ``mfbench fit`` and its model-selection criterion (the
within-budget Spearman of the val error, averaged over the ladder). Beside it, the table's noise
ceiling per budget (one seed against the mean of the others). The slope says whether a bigger
collection or a better model is what a surrogate below its goal needs.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    from mfbench.surrogates.data import training_data
    from mfbench.surrogates.fit import _encoder_for, _oof
    from mfbench.surrogates.model import design_matrices
    from mfbench.surrogates.quality import quality_table, rank_score, seed_spearman
    from mfbench.tables.table import load_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table", nargs="?", default="tabular/digits-cnn.sqlite")
    ap.add_argument("--family", default="hist_gbm_small")
    ap.add_argument("--draws", type=int, default=3)
    args = ap.parse_args()

    table = load_table(args.table)
    data = training_data(table, ("val_error",))
    _, X, _ = design_matrices(_encoder_for(table), data)
    y, groups = data.y["val_error"], data.row_config
    arch = data.architectures[groups]
    n_all = len(data.configs)
    ceilings = []
    for b in data.budgets:
        m = data.is_scratch() & (data.epoch == b)
        ceilings.append(seed_spearman(data.y_seeds["val_error"][m]))
    print(
        f"{args.table}: {n_all} configs; noise ceiling per budget {data.budgets}: "
        + ", ".join(f"{c:.3f}" for c in ceilings)
        + f" (mean {np.mean(ceilings):.3f})"
    )
    rng = np.random.default_rng(0)
    print(f"{'configs':>8} {'criterion':>10} {'± sd':>6}   per budget")
    for frac in (0.25, 0.5, 0.75, 1.0):
        n = max(10, int(round(frac * n_all)))
        scores, per = [], []
        for draw in range(args.draws if n < n_all else 1):
            keep = np.sort(rng.choice(n_all, n, replace=False))
            m = np.isin(groups, keep)
            pred = _oof(args.family, X[m], y[m], groups[m], 5, draw, 100, None, "val_error")
            rows = quality_table(y[m], pred, data.epoch[m], data.schedule[m], arch[m], data.budgets)
            scores.append(rank_score(rows, data.budgets))
            per.append([r["spearman"] for r in rows if r["slice"] in {f"b={b} all" for b in data.budgets}])
        print(
            f"{n:>8} {np.mean(scores):>10.3f} {np.std(scores):>6.3f}   "
            + " ".join(f"{v:.3f}" for v in np.mean(per, axis=0))
        )


if __name__ == "__main__":
    main()
