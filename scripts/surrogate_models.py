"""Issue 22's "Models" lever, measured: which model structure ranks the CNN table's
configurations, within each budget, as well as one real rerun does (the 1-seed noise ceiling)?

Same protocol and figures as ``scripts/surrogate_levers.py`` (whose ``merge`` and ``report`` it
uses): 5-fold CV grouped by configuration, either on the Sobol table with the grid held out
whole, or over Sobol + grid with every prediction out of fold. A variant here is a function
from training configurations (encoded features, their whole learning-curve matrix: val error
at each (epoch, schedule) pair) to scratch predictions at every budget for test configurations,
so models of whole curves and per-configuration models fit the same harness:

- ``rows``: the shipped shape: one regressor over (config, epoch, schedule) rows.
- ``per_arch``: the same, one model per architecture on the features active in it.
- ``per_budget``: one config-level model per budget (no epoch feature).
- ``chain``: the per-budget models, each fed the lower budgets' predictions (RegressorChain).
- ``curve``: a quadratic in log epoch fitted per configuration to its logit errors; the three
  coefficients predicted, the curve rebuilt.
- ``gp``: a Gaussian process per budget (Matern ARD + white noise) on the config features.
- ``mlp``: a mean of five small MLPs, all budgets jointly.

Each with the target as logit error (``logit``) or as within-budget normal scores of the
training configs' ranks (``rank``; a monotone map, so predicted ranks keep their meaning).

    OMP_NUM_THREADS=1 python scripts/surrogate_models.py [--variants rows:logit,gp:rank] [--folds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from surrogate_levers import logit, merge, report  # noqa: E402

from mfbench.surrogates.data import training_data  # noqa: E402
from mfbench.surrogates.fit import _encoder_for  # noqa: E402
from mfbench.surrogates.model import design_matrices, limit_threads, make_model  # noqa: E402
from mfbench.tables.table import load_table  # noqa: E402


def normal_scores(Y: np.ndarray) -> np.ndarray:
    """Each column's values replaced by the normal quantile of their rank (NaN kept)."""
    from scipy.stats import norm, rankdata

    out = np.full_like(Y, np.nan)
    for j in range(Y.shape[1]):
        ok = np.isfinite(Y[:, j])
        out[ok, j] = norm.ppf(rankdata(Y[ok, j]) / (ok.sum() + 1))
    return out


class Curves:
    """The tables as one row per configuration: encoded features ``Xc``, the val error at every
    (epoch, schedule) pair ``Y`` (configs × pairs) and the feature rows of each pair."""

    def __init__(self, encoder, data):
        self.encoder, self.data = encoder, data
        self.Xc, _, _ = design_matrices(encoder, data)
        pairs = sorted(set(zip(data.epoch.tolist(), data.schedule.tolist())), key=lambda p: (p[1], p[0]))
        self.pairs = pairs
        col = {p: j for j, p in enumerate(pairs)}
        self.row_col = np.array([col[p] for p in zip(data.epoch.tolist(), data.schedule.tolist())])
        self.Y = np.full((len(data.configs), len(pairs)), np.nan)
        self.Y[data.row_config, self.row_col] = data.y["val_error"]
        self.scratch = [col[(b, b)] for b in data.budgets]  # columns of the scratch budgets
        self.arch = data.architectures

    def rows(self, idx: np.ndarray, cols: list[int]) -> np.ndarray:
        """Feature rows of configs ``idx`` at pairs ``cols`` (config-major)."""
        e = np.array([self.pairs[j][0] for j in cols] * len(idx))
        s = np.array([self.pairs[j][1] for j in cols] * len(idx))
        return self.encoder.rows(np.repeat(self.Xc[idx], len(cols), axis=0), e, s)

    def to_rows(self, P: np.ndarray) -> np.ndarray:
        """Per-config scratch predictions (configs × budgets) as a prediction per table row."""
        pred = np.full(len(self.data.epoch), np.nan)
        for k, j in enumerate(self.scratch):
            m = self.row_col == j
            pred[m] = P[self.data.row_config[m], k]
        return pred


# --- the variants: (curves, train idx, test idx, target matrix of the train configs) -> test × budgets


def fit_hgb(X: np.ndarray, y: np.ndarray, family: str = "hist_gbm_small"):
    m = make_model(family, 0, 100, 1)
    ok = np.isfinite(y)
    with limit_threads(1):
        m.fit(X[ok], y[ok])
    return m


def v_rows(c: Curves, tr, te, T) -> np.ndarray:
    cols = list(range(len(c.pairs)))
    m = fit_hgb(c.rows(tr, cols), T.ravel())
    return m.predict(c.rows(te, c.scratch)).reshape(len(te), -1)


def v_per_arch(c: Curves, tr, te, T) -> np.ndarray:
    """One rows model per architecture, on the features that vary within it (the other
    architectures' depth knobs and the architecture one-hot dropped)."""
    out = np.full((len(te), len(c.scratch)), np.nan)
    cols = list(range(len(c.pairs)))
    for a in sorted(set(c.arch)):
        tra, tea = tr[c.arch[tr] == a], te[c.arch[te] == a]
        if len(tea) == 0:
            continue
        Xtr = c.rows(tra, cols)
        keep = np.ptp(Xtr, axis=0) > 0
        m = fit_hgb(Xtr[:, keep], T[c.arch[tr] == a].ravel())
        out[c.arch[te] == a] = m.predict(c.rows(tea, c.scratch)[:, keep]).reshape(len(tea), -1)
    return out


def v_per_budget(c: Curves, tr, te, T) -> np.ndarray:
    return np.column_stack([fit_hgb(c.Xc[tr], T[:, j]).predict(c.Xc[te]) for j in c.scratch])


def v_chain(c: Curves, tr, te, T) -> np.ndarray:
    """Budget k's model sees the configs' features plus out-of-fold predictions at budgets < k
    (cross_val_predict inside the training set, so training and test inputs match)."""
    from sklearn.model_selection import cross_val_predict

    Xtr, Xte = c.Xc[tr], c.Xc[te]
    out = []
    for j in c.scratch:
        y = T[:, j]
        ok = np.isfinite(y)
        m = make_model("hist_gbm_small", 0, 100, 1)
        with limit_threads(1):
            inner = np.full(len(y), np.nan)
            inner[ok] = cross_val_predict(m, Xtr[ok], y[ok], cv=5)
            inner[~ok] = fit_hgb(Xtr, y).predict(Xtr[~ok]) if (~ok).any() else inner[~ok]
            m.fit(Xtr[ok], y[ok])
            p = m.predict(Xte)
        out.append(p)
        Xtr, Xte = np.column_stack([Xtr, inner]), np.column_stack([Xte, p])
    return np.column_stack(out)


def v_curve(c: Curves, tr, te, T) -> np.ndarray:
    """Per configuration, T at the scratch budgets ≈ a + s·u + q·u² with u = log(b)/log(max b):
    the three coefficients (least squares) are the targets; predictions are the rebuilt curve."""
    b = np.array(c.data.budgets, float)
    u = np.log(b) / np.log(b.max())
    B = np.column_stack([np.ones_like(u), u, u**2])
    Ts = T[:, c.scratch]
    ok = np.isfinite(Ts).all(axis=1)
    coef = np.linalg.lstsq(B, Ts[ok].T, rcond=None)[0].T  # configs × 3
    C = np.column_stack([fit_hgb(c.Xc[tr][ok], coef[:, k]).predict(c.Xc[te]) for k in range(3)])
    return C @ B.T


def v_gp(c: Curves, tr, te, T, each: bool = False) -> np.ndarray:
    """Kernel hyperparameters (ARD Matern 5/2 + white noise) fitted once per fold on the largest
    budget, then reused as they are for the other budgets (a full ARD fit per budget took
    ~20 s each on one core); ``each``: fitted per budget (from the largest budget's)."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    X = c.Xc
    keep = np.ptp(X[tr], axis=0) > 0
    Xtr, Xte = X[tr][:, keep], X[te][:, keep]
    kernel = ConstantKernel(1.0) * Matern(np.ones(keep.sum()), (1e-2, 1e3), nu=2.5) + WhiteKernel(0.1, (1e-4, 10))
    out = {}
    for j in [c.scratch[-1], *c.scratch[:-1]]:  # the largest budget first: it fits the kernel
        y = T[:, j]
        ok = np.isfinite(y)
        opt = "fmin_l_bfgs_b" if each or not out else None
        gp = GaussianProcessRegressor(kernel, normalize_y=True, optimizer=opt, random_state=0).fit(Xtr[ok], y[ok])
        kernel = gp.kernel_
        out[j] = gp.predict(Xte)
    return np.column_stack([out[j] for j in c.scratch])


def v_gp_arch(c: Curves, tr, te, T) -> np.ndarray:
    """One GP (as ``v_gp``) per architecture: each its own length scales, on its active features."""
    out = np.full((len(te), len(c.scratch)), np.nan)
    for a in sorted(set(c.arch)):
        ta, ea = c.arch[tr] == a, c.arch[te] == a
        if ea.any():
            out[ea] = v_gp(c, tr[ta], te[ea], T[ta])
    return out


def v_mlp(c: Curves, tr, te, T) -> np.ndarray:
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler

    Ts = T[:, c.scratch]
    ok = np.isfinite(Ts).all(axis=1)
    sx = StandardScaler().fit(c.Xc[tr])
    sy = StandardScaler().fit(Ts[ok])
    preds = []
    for seed in range(5):
        m = MLPRegressor(
            hidden_layer_sizes=(64, 64), alpha=1e-2, learning_rate_init=1e-3, max_iter=1000, random_state=seed
        )
        m.fit(sx.transform(c.Xc[tr][ok]), sy.transform(Ts[ok]))
        preds.append(sy.inverse_transform(m.predict(sx.transform(c.Xc[te]))))
    return np.mean(preds, axis=0)


VARIANTS: dict[str, Callable] = {
    "rows": v_rows,
    "per_arch": v_per_arch,
    "per_budget": v_per_budget,
    "chain": v_chain,
    "curve": v_curve,
    "gp": v_gp,
    "gp_each": lambda c, tr, te, T: v_gp(c, tr, te, T, each=True),
    "gp_arch": v_gp_arch,
    "mlp": v_mlp,
}


def target(Y: np.ndarray, kind: str) -> np.ndarray:
    return logit(Y) if kind == "logit" else normal_scores(Y)


def cv_predict(c: Curves, fn: Callable, kind: str, train: np.ndarray, folds: int) -> np.ndarray:
    """Configs × budgets: out of fold for ``train`` configs, from a model on all of them for the rest."""
    from sklearn.model_selection import KFold

    P = np.full((len(c.Xc), len(c.scratch)), np.nan)
    idx = np.flatnonzero(train)
    for a, b in KFold(folds, shuffle=True, random_state=0).split(idx):
        tr, te = idx[a], idx[b]
        P[te] = fn(c, tr, te, target(c.Y[tr], kind))
    rest = np.flatnonzero(~train)
    if len(rest):
        P[rest] = fn(c, idx, rest, target(c.Y[idx], kind))
    return P


def rank_by_budget(P: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Each budget's predictions as normal scores, separately for the out-of-fold configs and
    the held-out rest, so members on different scales (logit, rank) average alike."""
    out = np.empty_like(P)
    for m in (train, ~train):
        if m.any():
            out[m] = normal_scores(P[m])
    return out


def summary_line(name: str, rows: list[dict]) -> str:
    gap, where = min(g for r in rows for g in r["gaps"])
    grid = [r["cells"][2] for r in rows]
    ok = gap >= 0 and min(grid) >= 0.9
    return f"| {name} | {gap:+.3f} ({where}) | {' / '.join(f'{g:.2f}' for g in grid)} | {'yes' if ok else 'no'} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=",".join(f"{v}:{k}" for v in VARIANTS for k in ("logit", "rank")))
    ap.add_argument("--protocols", default="sobol,union", help="sobol: grid held out whole; union: Sobol + grid CV")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--ensembles", default="", help="e.g. gp:logit+rows:logit (mean of the members' ranks)")
    ap.add_argument("--cache", default="", help="folder for each variant's predictions (reused when present)")
    ap.add_argument("--sobol", default="tabular/digits-cnn.sqlite")
    ap.add_argument("--grid", default="tabular/digits-grid.sqlite")
    args = ap.parse_args()
    specs = [v.split(":") for v in filter(None, args.variants.split(","))]
    combos = [c.split("+") for c in filter(None, args.ensembles.split(","))]
    for v, k in [*specs, *(m.split(":") for c in combos for m in c)]:
        if v not in VARIANTS or k not in ("logit", "rank"):
            print(f"unknown variant {v}:{k}; known: {', '.join(VARIANTS)} × logit|rank", file=sys.stderr)
            sys.exit(2)
    if set(args.protocols.split(",")) - {"sobol", "union"}:
        print(f"unknown protocol in {args.protocols!r}; known: sobol, union", file=sys.stderr)
        sys.exit(2)
    ta, tb = load_table(args.sobol), load_table(args.grid)
    data, source = merge(training_data(ta), training_data(tb))
    c = Curves(_encoder_for(ta), data)
    print(f"{len(ta.config_ids)} Sobol + {len(tb.config_ids)} grid configurations; target val_error")
    labels = {
        "sobol": "fitted on Sobol only (grid held out whole)",
        "union": "fitted on Sobol + grid (all out of fold)",
    }
    summary = []
    for proto in args.protocols.split(","):
        train = source == 0 if proto == "sobol" else np.ones(len(source), bool)
        preds = {}
        for name in dict.fromkeys([*(":".join(s) for s in specs), *(m for c_ in combos for m in c_)]):
            v, k = name.split(":")
            path = Path(args.cache) / f"{v}_{k}_{proto}_{args.folds}.npy" if args.cache else None
            t0 = time.perf_counter()
            if path is not None and path.exists():
                preds[name] = np.load(path)
            else:
                preds[name] = cv_predict(c, VARIANTS[v], k, train, args.folds)
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    np.save(path, preds[name])
            secs = time.perf_counter() - t0
            if [v, k] in specs:
                rows = report(f"{name}: {labels[proto]} ({secs:.0f} s)", data, source, c.to_rows(preds[name]))
                summary.append(summary_line(f"{name} [{proto}]", rows))
                sys.stdout.flush()
        for members in combos:
            P = np.mean([rank_by_budget(preds[m], train) for m in members], axis=0)
            name = " + ".join(members)
            rows = report(f"mean rank of {name}: {labels[proto]}", data, source, c.to_rows(P))
            summary.append(summary_line(f"{name} [{proto}]", rows))
    print("\n| variant [protocol] | min over slices (ρ − ceiling) | grid ρ at 1/3/9/27 | passes gates? |")
    print("|---|---|---|---|")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
