"""``optiml``: multi-fidelity optimization with one surrogate over (configuration, budget).

The algorithm (defaults in brackets). One random forest [``n_trees`` = 50, ``max_features`` = 0.8,
``min_samples_leaf`` = 1, bootstrap; scikit-learn, ``random_state`` from the seed] regresses the
validation error on the configuration's features (``encoding.VectorCodec``: log-aware [0, 1]
numericals, scaled ordinals, one-hot categoricals, inactive = -1) and log(b) / log(b_max). Its
target is the error minus a budget trend g(b) [``detrend`` = True]: the mean error at the lowest
rung plus, rung by rung, the mean change of the configurations observed at both rungs (paired, so
that promotion of the better ones does not pass for a budget effect); this keeps the trees'
splits on the configuration, so that what a configuration showed at a low budget carries to
b_max. mu(x, b) = g(b) + the mean over trees, sigma(x, b) = their standard deviation. The forest
is refitted on all observations at every budget after every tell (lazily, at the next ask). The
incumbent value eta* is the smallest mu(x, b_max) over the configurations evaluated so far;
EI(x) is the expected improvement of N(mu(x, b_max), sigma(x, b_max)) below eta*. The first
[``n_init`` = 10] asks start random configurations at the lowest rung b_0. Then every ask weighs
(a) continuing a configuration last evaluated at rung b < b_max to the next rung, allowed only if
P(y(x, b_max) < eta*) = Phi((eta* - mu) / sigma) > [``delta`` = 0.1], against (b) starting the new
configuration of largest EI at b_0, found among [``n_candidates`` = 500] prior samples and a local
search (up to [``local_steps`` = 5] rounds of [``n_local`` = 10] neighbours, the GA's per-type
mutation with step [``local_sigma`` = 0.1], moving while EI improves) from the
[``n_local_starts`` = 5] evaluated configurations of lowest mu(x, b_max) and as many best prior
samples. It takes the action with the largest EI per epoch of extra cost (a continuation wins
ties). The extra cost [``extra_cost`` = "to_max"] is what the action commits before its EI, a
b_max value, can be realized: b_max - b for a continuation and b_max for a new configuration
(from scratch: the sum of the budgets of the remaining rungs). ``extra_cost="step"`` charges
only the next rung (b' - b, or b' from scratch, and b_0 for a new configuration); a new
configuration then costs 1/2 to 1/18 of any continuation on the 1-3-9-27 ladder and the
optimizer almost never reaches b_max (on the synthetic ``cnn`` benchmark, 4 seeds of 20
full-budget equivalents: not one max-budget evaluation), so it is kept for comparison only. No
configuration is evaluated twice at one budget; one whose evaluation failed is never continued
(its error counts as the worst seen). With ``continuation`` [True] every evaluation reads the
prefix of the largest-budget schedule (mode ``continue``, the first from epoch 0) and pays only
the extra epochs; without it each rung is a from-scratch training that costs its whole budget.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr

from mfbench.core.errors import UsageError
from mfbench.core.types import Capabilities, Result, Trial
from mfbench.optimizers.base import Optimizer
from mfbench.optimizers.native.encoding import VectorCodec, legacy_rng, make_rng
from mfbench.optimizers.native.forest import ForestFitter
from mfbench.training.space import config_id

log = logging.getLogger(__name__)

OPTIML_DEFAULTS: dict[str, Any] = {
    "n_init": 10,
    "delta": 0.1,
    "n_trees": 50,
    "max_features": 0.8,
    "min_samples_leaf": 1,
    "n_candidates": 500,
    "n_local_starts": 5,
    "n_local": 10,
    "local_steps": 5,
    "local_sigma": 0.1,
    "rungs": None,  # None = the benchmark's ladder
    "continuation": True,
    "extra_cost": "to_max",
    "detrend": True,
}


_SQRT_2PI = np.sqrt(2 * np.pi)


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    """``scipy.stats.norm.cdf`` (which is ``special.ndtr``) without the frozen-distribution
    argument handling that costs more than the arithmetic on the arrays ``optiml`` scores."""
    return ndtr(z)


def _norm_pdf(z: np.ndarray) -> np.ndarray:
    """``scipy.stats.norm.pdf``, the same expression as scipy's ``_norm_pdf`` (same bits)."""
    return np.exp(-(z**2) / 2.0) / _SQRT_2PI


def expected_improvement(best: float, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """EI of minimization below ``best`` for Gaussian predictions."""
    mu, sigma = np.asarray(mu, dtype=float), np.maximum(np.asarray(sigma, dtype=float), 1e-12)
    z = (best - mu) / sigma
    return np.maximum((best - mu) * _norm_cdf(z) + sigma * _norm_pdf(z), 0.0)


def prob_improvement(best: float, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    mu, sigma = np.asarray(mu, dtype=float), np.maximum(np.asarray(sigma, dtype=float), 1e-12)
    return _norm_cdf((best - mu) / sigma)


def choose_action(
    best: float, delta: float, cont_mu, cont_sigma, cont_cost, new_mu, new_sigma, new_cost
) -> tuple[str, int] | None:
    """The OptiML decision rule, on predictions at the largest budget.

    Continuations with P(y < best) <= ``delta`` are stopped; among the rest and the new
    candidates the largest EI per unit of extra cost wins (a continuation wins ties, and among
    equals the first). Returns ``("continue", i)``, ``("new", j)`` or None when nothing is
    allowed."""
    cont_mu, cont_sigma, cont_cost = (np.asarray(a, dtype=float) for a in (cont_mu, cont_sigma, cont_cost))
    new_mu, new_sigma, new_cost = (np.asarray(a, dtype=float) for a in (new_mu, new_sigma, new_cost))
    best_cont = best_new = None
    if cont_mu.size:
        allowed = prob_improvement(best, cont_mu, cont_sigma) > delta
        if allowed.any():
            score = np.where(allowed, expected_improvement(best, cont_mu, cont_sigma) / cont_cost, -np.inf)
            i = int(np.argmax(score))
            best_cont = (float(score[i]), i)
    if new_mu.size:
        score = expected_improvement(best, new_mu, new_sigma) / new_cost
        j = int(np.argmax(score))
        best_new = (float(score[j]), j)
    if best_cont is not None and (best_new is None or best_cont[0] >= best_new[0]):
        return ("continue", best_cont[1])
    if best_new is not None:
        return ("new", best_new[1])
    return None


class _Predictor:
    """x -> (mu, sigma) of the forest at the largest budget. ``many`` predicts several batches
    with one pass of each tree and then summarizes each batch as its own array, exactly as a
    call per batch would (a tree's prediction of a row does not depend on the other rows, and
    each batch's mean and standard deviation over trees run on an array of the same shape)."""

    def __init__(self, trees: list, shift: float, budget_feature: float):
        self.trees, self.shift, self.budget_feature = trees, shift, budget_feature

    def _per_tree(self, features: np.ndarray) -> np.ndarray:
        X = np.hstack([features, np.full((features.shape[0], 1), self.budget_feature)])
        X = np.ascontiguousarray(X, dtype=np.float32)  # what DecisionTreeRegressor.predict feeds its tree
        return np.stack([t.predict(X)[:, 0] for t in self.trees])

    def _summary(self, per_tree: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return per_tree.mean(axis=0) + self.shift, per_tree.std(axis=0)

    def __call__(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._summary(self._per_tree(features))

    def many(self, batches: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        per_tree = self._per_tree(np.vstack(batches))
        bounds = np.cumsum([0] + [len(b) for b in batches])
        return [self._summary(np.ascontiguousarray(per_tree[:, lo:hi])) for lo, hi in zip(bounds[:-1], bounds[1:])]


@dataclass
class _Run:
    uid: int
    config: dict[str, Any]
    cid: str
    vector: np.ndarray
    features: np.ndarray
    rung: int = -1  # highest rung told
    errors: dict[int, float] = field(default_factory=dict)
    pending: bool = True
    failed: bool = False


class OptiML(Optimizer):
    name = "optiml"
    capabilities = Capabilities(multi_fidelity=True, continuation=True)

    def __init__(self, space, budgets, seed, **options):
        super().__init__(space, budgets, seed, **options)
        o = self.resolve_options(options, OPTIML_DEFAULTS)
        rungs = self.budgets if o["rungs"] is None else sorted(int(b) for b in o["rungs"])
        if [b for b in rungs if b not in self.budgets] or len(set(rungs)) != len(rungs) or rungs[-1] != self.max_budget:
            raise UsageError(
                f"{self.name}: rungs {rungs} must be distinct budgets of the ladder {self.budgets} "
                f"ending at {self.max_budget}"
            )
        self.rungs = [self.check_budget(b) for b in rungs]
        self.n_init = int(o["n_init"])
        self.delta = float(o["delta"])
        self.n_trees = int(o["n_trees"])
        self.max_features = float(o["max_features"])
        self.min_samples_leaf = int(o["min_samples_leaf"])
        self.n_candidates = int(o["n_candidates"])
        self.n_local_starts = int(o["n_local_starts"])
        self.n_local = int(o["n_local"])
        self.local_sigma = float(o["local_sigma"])
        self.local_steps = int(o["local_steps"])
        self.continuation = bool(o["continuation"])
        self.extra_cost = str(o["extra_cost"])
        self.detrend = bool(o["detrend"])
        if self.extra_cost not in ("to_max", "step"):
            raise UsageError(f"{self.name}: extra_cost must be 'to_max' or 'step', got {self.extra_cost!r}")
        if self.n_init < 1 or self.n_trees < 1 or not 0.0 <= self.delta < 1.0 or self.n_candidates < 1:
            raise UsageError(f"{self.name}: need n_init >= 1, n_trees >= 1, 0 <= delta < 1, n_candidates >= 1")
        self.codec = VectorCodec(space)
        self._rng_init = make_rng(self.seed, "optiml:init")
        self._rng_cand = make_rng(self.seed, "optiml:candidates")
        self._rs_prior = legacy_rng(make_rng(self.seed, "optiml:prior"))
        self._forest_seed = int(make_rng(self.seed, "optiml:forest").integers(2**31 - 1))
        lo, hi = math.log(self.rungs[0]), math.log(self.max_budget)
        self._bfeat = {b: (math.log(b) - lo) / (hi - lo) if hi > lo else 1.0 for b in self.rungs}
        self._runs: dict[int, _Run] = {}
        self._seen_cids: set[str] = set()
        self._seen_keys: set[bytes] = set()
        self._X: list[np.ndarray] = []
        self._y: list[float] = []
        self._obs_rung: list[int] = []
        self._forest = ForestFitter(
            n_trees=self.n_trees,
            max_features=self.max_features,
            min_samples_leaf=self.min_samples_leaf,
            seed=self._forest_seed,
        )
        self._model: list | None = None  # the forest's fitted trees
        self._model_n = 0
        self._shift = 0.0
        self._next_uid = 0
        self.n_forced_duplicates = 0
        self.last_decision: dict[str, Any] = {}

    def settings(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seed": self.seed,
            "n_init": self.n_init,
            "delta": self.delta,
            "n_trees": self.n_trees,
            "max_features": self.max_features,
            "min_samples_leaf": self.min_samples_leaf,
            "n_candidates": self.n_candidates,
            "n_local_starts": self.n_local_starts,
            "n_local": self.n_local,
            "local_steps": self.local_steps,
            "local_sigma": self.local_sigma,
            "rungs": list(self.rungs),
            "continuation": self.continuation,
            "extra_cost": self.extra_cost,
            "detrend": self.detrend,
            "refit": "every tell (lazily, at the next ask)",
        }

    # ----------------------------------------------------------------- ask / tell
    def ask(self) -> Trial:
        if len(self._runs) < self.n_init or not self._y:
            return self._start(self._random_new(self._rng_init), reason="initial design")
        mu_fn = self._fit()
        told = [r for r in self._runs.values() if r.rung >= 0]
        tmu, _ = mu_fn(np.stack([r.features for r in told]))
        best = float(tmu.min())
        conts = [r for r in told if not r.pending and not r.failed and r.rung < len(self.rungs) - 1]
        cmu = csig = ccost = np.empty(0)
        if conts:
            cmu, csig = mu_fn(np.stack([r.features for r in conts]))
            ccost = np.array([self._extra_cost(r.rung) for r in conts], dtype=float)
        cands, nmu, nsig = self._candidates(told, tmu, best, mu_fn)
        ncost = np.full(len(cands), float(self._extra_cost(-1)))
        order = np.argsort(-(expected_improvement(best, nmu, nsig) / ncost), kind="stable") if len(cands) else []
        action = choose_action(best, self.delta, cmu, csig, ccost, nmu, nsig, ncost)
        self.last_decision = {
            "incumbent_mu": best,
            "n_continuable": len(conts),
            "n_candidates": len(cands),
            "action": action,
        }
        if action is not None and action[0] == "continue":
            return self._continue(conts[action[1]])
        for j in order:  # the best candidate whose config id is really new (vectors can alias)
            cfg = self.codec.decode(cands[j])
            if config_id(cfg) not in self._seen_cids:
                return self._start(cands[j], reason="EI")
        if conts:  # nothing new to start and nothing allowed: continue the likeliest anyway
            p = prob_improvement(best, cmu, csig)
            return self._continue(conts[int(np.argmax(p))])
        vec = self._random_new(self._rng_cand)
        return self._start(vec, reason="fallback")

    def tell(self, trial: Trial, result: Result) -> None:
        uid, rung = trial.info
        run = self._runs.get(uid)
        if run is None or not run.pending or rung != run.rung + 1 or self.rungs[rung] != trial.budget:
            raise ValueError(f"{self.name}: told a trial that was not asked (or told twice): {trial}")
        obs = self.observe(result)  # the failure policy: a crash is as bad as the worst error seen
        err = obs.loss
        if obs.crashed:
            run.failed = True
        run.errors[rung] = err
        run.rung = rung
        run.pending = False
        self._X.append(np.append(run.features, self._bfeat[trial.budget]))
        self._y.append(err)
        self._obs_rung.append(rung)

    # ----------------------------------------------------------------- internals
    def _extra_cost(self, rung: int) -> int:
        """Epochs an action commits: ``step`` = to the next rung; ``to_max`` = all the way to
        b_max, where its EI would be realized (rung -1 = a new configuration)."""
        if self.extra_cost == "step":
            nxt = self.rungs[rung + 1]
            if rung < 0:
                return nxt
            return nxt - self.rungs[rung] if self.continuation else nxt
        if self.continuation:
            return self.max_budget - (self.rungs[rung] if rung >= 0 else 0)
        return sum(self.rungs[rung + 1 :])

    def _trial(self, run: _Run, rung: int) -> Trial:
        if self.continuation:
            prev = self.rungs[rung - 1] if rung > 0 else 0
            return Trial(dict(run.config), self.rungs[rung], mode="continue", resume_from=prev, info=(run.uid, rung))
        return Trial(dict(run.config), self.rungs[rung], mode="scratch", resume_from=None, info=(run.uid, rung))

    def _start(self, vec: np.ndarray, reason: str) -> Trial:
        self._seen_keys.add(self.codec.key(vec))
        config = self.codec.decode(vec)
        cid = config_id(config)
        if cid in self._seen_cids:  # only reachable when the space is exhausted
            self.n_forced_duplicates += 1
            if self.n_forced_duplicates == 1:  # once per run
                log.warning("%s: no unseen configuration left; re-evaluating known ones from now on", self.name)
        vec = self.codec.encode(config)
        run = _Run(uid=self._next_uid, config=config, cid=cid, vector=vec, features=self.codec.features(vec)[0])
        self._next_uid += 1
        self._runs[run.uid] = run
        self._seen_cids.add(cid)
        self._seen_keys.add(self.codec.key(vec))
        log.debug("%s: new configuration (%s)", self.name, reason)
        return self._trial(run, 0)

    def _continue(self, run: _Run) -> Trial:
        run.pending = True
        return self._trial(run, run.rung + 1)

    def _random_new(self, rng: np.random.Generator) -> np.ndarray:
        for _ in range(20):
            for vec in self.codec.sample(50, rng):
                if (
                    self.codec.key(vec) not in self._seen_keys
                    and config_id(self.codec.decode(vec)) not in self._seen_cids
                ):
                    return vec
        return self.codec.sample(1, rng)[0]

    def budget_trend(self) -> np.ndarray:
        """g(rung): the mean error at the lowest rung plus, rung by rung, the mean change of the
        configurations observed at both rungs (paired, so that promoting the better ones does
        not pass for a budget effect); 0 change where no pair exists yet. The forest is fitted
        on y - g(rung): its splits go to the configuration, and what a configuration showed at
        a low budget carries to b_max. Decisions do not depend on g(b_max): eta* and mu(x,
        b_max) shift together."""
        g = np.zeros(len(self.rungs))
        ok = [r for r in self._runs.values() if r.rung >= 0 and not r.failed]
        if ok:
            g[0] = float(np.mean([r.errors[0] for r in ok if 0 in r.errors] or [0.0]))
        for k in range(1, len(self.rungs)):
            diffs = [r.errors[k] - r.errors[k - 1] for r in ok if k in r.errors and k - 1 in r.errors]
            g[k] = g[k - 1] + (float(np.mean(diffs)) if diffs else 0.0)
        return g

    def _fit(self):
        """Refit the forest if observations arrived; return x -> (mu, sigma) at the largest budget."""
        if self._model is None or self._model_n != len(self._y):
            X, y = np.stack(self._X), np.asarray(self._y)
            if self.detrend:
                y = y - self.budget_trend()[np.asarray(self._obs_rung)]
            self._model = self._forest.fit(X, y)
            self._model_n = len(self._y)
            self._shift = float(self.budget_trend()[-1]) if self.detrend else 0.0
        return _Predictor(self._model, self._shift, self._bfeat[self.max_budget])

    def _candidates(self, told: list[_Run], tmu: np.ndarray, best: float, predict) -> tuple[np.ndarray, ...]:
        """New configurations to weigh, with mu and sigma at b_max: prior samples, then a local
        search on EI (up to ``local_steps`` rounds of ``n_local`` neighbours per start, moving to
        the best neighbour while EI improves) from the ``n_local_starts`` evaluated
        configurations with the lowest mu(x, b_max) and the as many best prior samples. Every
        configuration already started is left out."""
        rng, codec = self._rng_cand, self.codec
        fill = lambda j: codec.prior_value(j, self._rs_prior)  # noqa: E731
        seen = set(self._seen_keys)
        pool_v, pool_mu, pool_sd = [], [], []

        def unseen(vs: np.ndarray) -> np.ndarray:
            keep = []
            for k, key in enumerate(codec.keys(vs)):
                if key not in seen and codec.is_allowed(vs[k]):
                    seen.add(key)
                    keep.append(k)
            return vs[keep]

        def score_many(batches: list[np.ndarray]) -> list[tuple[np.ndarray, ...]]:
            """Each batch's unseen vectors with mu, sigma and EI, in order; the forest runs once."""
            kept = [unseen(vs) for vs in batches]
            nonempty = [vs for vs in kept if len(vs)]
            stats = iter(predict.many([codec.features(vs) for vs in nonempty]) if nonempty else [])
            out = []
            for vs in kept:
                if not len(vs):
                    out.append((vs, np.empty(0), np.empty(0), np.empty(0)))
                    continue
                mu, sd = next(stats)
                pool_v.append(vs)
                pool_mu.append(mu)
                pool_sd.append(sd)
                out.append((vs, mu, sd, expected_improvement(best, mu, sd)))
            return out

        def score(vs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            return score_many([vs])[0]

        rv, _, _, rei = score(codec.sample(self.n_candidates, rng))
        starts = [told[int(i)].vector for i in np.argsort(tmu, kind="stable")[: self.n_local_starts]]
        starts_ei = list(expected_improvement(best, *predict(codec.features(np.stack(starts)))))
        for i in np.argsort(-rei, kind="stable")[: self.n_local_starts]:
            starts.append(rv[int(i)])
            starts_ei.append(float(rei[int(i)]))
        for _ in range(self.local_steps):
            # every start's neighbours drawn first (the draws are those of one start after the
            # other), then scored with one pass of the forest: scoring draws nothing
            neighbours = [
                np.stack(
                    [
                        codec.repair(codec.mutate(v, rng, None, self.local_sigma, at_least_one=True), fill)
                        for _ in range(self.n_local)
                    ]
                )
                for v in starts
            ]
            moved = []
            for (nv, _, _, nei), e in zip(score_many(neighbours), starts_ei, strict=True):
                if len(nv) and nei.max() > e:
                    k = int(np.argmax(nei))
                    moved.append((nv[k], float(nei[k])))
            if not moved:
                break
            starts, starts_ei = [m[0] for m in moved], [m[1] for m in moved]
        if not pool_v:
            return np.empty((0, codec.dim)), np.empty(0), np.empty(0)
        return np.vstack(pool_v), np.concatenate(pool_mu), np.concatenate(pool_sd)
