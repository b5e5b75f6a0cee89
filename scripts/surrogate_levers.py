"""Issue 22's levers, measured: does a surrogate fitted on more of the CNN data rank
configurations at least as well as one real rerun (the 1-seed noise ceiling)?

Variants (each a model family fitted on rows of one or both shipped tables):

- ``sobol``: the shipped surrogate's data (``digits-cnn``, 461 Sobol configurations); the grid's
  144 configurations are never seen (today's held-out check on the grid).
- ``sobol+grid``: both tables as training data; every figure out of fold (5-fold CV grouped by
  configuration over the union), so a grid configuration is predicted by a model that never saw
  it (the issue: "the grid's own runs may be training data too, with the held-out check done by
  cross-validation over grid configurations").

For each, per budget: Spearman of the predictions against the seed means on the Sobol
configurations and on the grid configurations, beside each set's 1-seed noise ceiling
(``surrogates.quality.seed_spearman``), and the worst gap over budget × architecture slices.

    python scripts/surrogate_levers.py [--families hist_gbm_small,extra_trees] [--folds 5]
        [--ensembles hist_gbm_small+extra_trees]  (the mean of the members' predictions)
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from mfbench.surrogates.data import TrainingData, training_data
from mfbench.surrogates.fit import _encoder_for
from mfbench.surrogates.model import design_matrices, limit_threads, make_model
from mfbench.surrogates.quality import seed_spearman, slice_metrics
from mfbench.tables.table import load_table


def logit(y: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """log(y / (1 - y)) of the error clipped to [eps, 1 - eps] (a target that spreads low errors)."""
    y = np.clip(y, eps, 1 - eps)
    return np.log(y / (1 - y))


def merge(a: TrainingData, b: TrainingData) -> tuple[TrainingData, np.ndarray]:
    """Rows of both, configurations renumbered; returns the data and each config's source (0 = a)."""
    if a.budgets != b.budgets:
        sys.exit(f"the tables' ladders differ: {a.budgets} vs {b.budgets}")
    n = len(a.configs)
    data = TrainingData(
        configs=[*a.configs, *b.configs],
        config_ids=[*a.config_ids, *b.config_ids],
        row_config=np.concatenate([a.row_config, b.row_config + n]),
        epoch=np.concatenate([a.epoch, b.epoch]),
        schedule=np.concatenate([a.schedule, b.schedule]),
        y={t: np.concatenate([a.y[t], b.y[t]]) for t in a.y},
        y_seeds={t: np.concatenate([a.y_seeds[t], b.y_seeds[t]]) for t in a.y_seeds},
        seconds_per_epoch=np.concatenate([a.seconds_per_epoch, b.seconds_per_epoch]),
        budgets=a.budgets,
        digest=a.digest + "+" + b.digest,
    )
    return data, np.r_[np.zeros(n, dtype=int), np.ones(len(b.configs), dtype=int)]


def oof(
    family: str, X: np.ndarray, y: np.ndarray, groups: np.ndarray, train_mask: np.ndarray, folds: int
) -> np.ndarray:
    """Out-of-fold predictions for every row; rows outside ``train_mask`` are never trained on."""
    from sklearn.model_selection import GroupKFold

    pred = np.full(len(y), np.nan)
    cv = GroupKFold(n_splits=folds, shuffle=True, random_state=0)
    for tr, te in cv.split(X, y, groups):
        tr = tr[train_mask[tr] & np.isfinite(y[tr])]
        m = make_model(family, 0, 100, 1)
        with limit_threads(1):
            m.fit(X[tr], y[tr])
            pred[te] = m.predict(X[te])
    return pred


def held_out(family: str, X: np.ndarray, y: np.ndarray, train_mask: np.ndarray, groups, folds) -> np.ndarray:
    """Out-of-fold on the training rows, a model on all training rows for the rest."""
    pred = oof(family, X, y, groups, train_mask, folds)
    m = make_model(family, 0, 100, 1)
    ok = train_mask & np.isfinite(y)
    with limit_threads(1):
        m.fit(X[ok], y[ok])
        pred[~train_mask] = m.predict(X[~train_mask])
    return pred


def budget_rows(data: TrainingData, source: np.ndarray, pred: np.ndarray) -> list[dict]:
    """Per budget: Spearman and 1-seed ceiling on the Sobol (source 0) and grid (1) scratch rows,
    and every budget × source × architecture slice's gap (ρ − ceiling), worst first."""
    y, ys = data.y["val_error"], data.y_seeds["val_error"]
    src = source[data.row_config]
    arch = data.architectures[data.row_config]
    scratch = data.is_scratch()
    out = []
    for b in data.budgets:
        cells = []
        for s in (0, 1):
            m = scratch & (data.epoch == b) & (src == s)
            cells += [slice_metrics(y[m], pred[m])["spearman"], seed_spearman(ys[m])]
        gaps = []
        for s in (0, 1):
            for fam in sorted(set(arch)):
                m = scratch & (data.epoch == b) & (src == s) & (arch == fam)
                if m.sum() >= 5:
                    gaps.append((slice_metrics(y[m], pred[m])["spearman"] - seed_spearman(ys[m]), f"{'sg'[s]}:{fam}"))
        out.append({"budget": b, "cells": cells, "gaps": sorted(gaps)})
    return out


def report(name: str, data: TrainingData, source: np.ndarray, pred: np.ndarray) -> list[dict]:
    rows = budget_rows(data, source, pred)
    print(f"\n{name}")
    print(
        f"  {'budget':>6} | {'Sobol ρ':>8} {'ceiling':>8} | {'grid ρ':>8} {'ceiling':>8} | worst slice gap (ρ − ceiling)"
    )
    for r in rows:
        c, worst = r["cells"], r["gaps"][0]
        print(f"  {r['budget']:>6} | {c[0]:8.3f} {c[1]:8.3f} | {c[2]:8.3f} {c[3]:8.3f} | {worst[0]:+.3f} ({worst[1]})")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="hist_gbm_small,extra_trees,random_forest")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--transform", default="none", choices=["none", "logit"], help="of the target while fitting")
    ap.add_argument("--ensembles", default="", help="e.g. hist_gbm_small+hist_gbm (members among --families)")
    ap.add_argument("--sobol", default="tabular/digits-cnn.sqlite")
    ap.add_argument("--grid", default="tabular/digits-grid.sqlite")
    args = ap.parse_args()
    ta, tb = load_table(args.sobol), load_table(args.grid)
    data, source = merge(training_data(ta), training_data(tb))
    _, X, _ = design_matrices(_encoder_for(ta), data)  # the rows `fit` trains on
    y = data.y["val_error"]
    if args.transform == "logit":  # fit on logit(error), predict back through the inverse: ranks unchanged
        y = logit(y)
    groups = data.row_config
    is_sobol = source[data.row_config] == 0
    print(f"{len(ta.config_ids)} Sobol + {len(tb.config_ids)} grid configurations, {len(y)} rows; target val_error")
    variants = {
        "fitted on Sobol only (grid held out whole)": lambda fam: held_out(fam, X, y, is_sobol, groups, args.folds),
        "fitted on Sobol + grid (all out of fold)": lambda fam: oof(
            fam, X, y, groups, np.ones(len(y), bool), args.folds
        ),
    }
    for label, predict in variants.items():
        preds = {}
        for fam in args.families.split(","):
            t0 = time.perf_counter()
            preds[fam] = predict(fam)
            report(f"{fam}: {label} ({time.perf_counter() - t0:.0f} s)", data, source, preds[fam])
        for combo in filter(None, args.ensembles.split(",")):
            members = combo.split("+")
            report(
                f"mean of {' + '.join(members)}: {label}", data, source, np.mean([preds[m] for m in members], axis=0)
            )


if __name__ == "__main__":
    main()
