"""Genetic algorithms on ConfigSpace spaces: ``ga`` (every evaluation at the largest budget)
and ``ga-mf`` (each generation is a successive-halving bracket over the rungs). Defaults in
brackets; ``settings()`` returns them all.

Representation: ConfigSpace's vector form (``encoding.VectorCodec``). Generation 0 is
[``population_size`` = 20] configurations from the space's prior. Each later generation breeds
``population_size - elitism`` offspring: parents by tournament [``tournament_size`` = 3; lower
fitness wins], uniform crossover with probability [``crossover_rate`` = 0.9] (a gene the chosen
parent lacks comes from the other), then per-type mutation of every active, non-constant gene
with probability [``mutation_rate`` = None, i.e. 1 / their number]: a Gaussian step of
[``mutation_sigma`` = 0.15] on the normalized, log-aware [0, 1] scale for numericals (log-normal
on the value of a log hyperparameter), +-1 for ordinals, another value for categoricals. The
child is repaired so that exactly its active hyperparameters have values; a newly active one
takes the value of a random population member that has it (the gene pool), else a prior draw.
A child whose config id was ever bred before is bred again; after [``max_tries`` = 50] rejections
a prior sample is taken. When a generation is complete, the population becomes the
[``elitism`` = 2] best of the old population plus the best ``population_size - elitism``
offspring.

Multi-fidelity (``ga-mf``, rungs [``rungs`` = the benchmark's ladder]): offspring are evaluated at
the lowest rung; when every member of a rung has been told, the best ``max(1, floor(n / eta))``
of its ``n`` [``eta`` = 3] are promoted to the next rung, up to the largest. With
[``continuation`` = True] every evaluation reads the prefix of the largest-budget schedule (mode
``continue``, the first from epoch 0, a promotion from the previous rung), so that a low-rung
value and its continuation are one training and a promotion pays only the extra epochs;
without it each rung is a from-scratch training at its budget. **Fitness across rungs** is the
key (highest rung reached, error there), compared lexicographically: an individual evaluated at
a higher rung beats every individual that stopped lower, and errors are compared only within a
rung. So once max-budget values exist only they decide tournaments and elitism, and a
low-budget value never outranks a max-budget one.

Parallel asks: asks are served from a queue of pending evaluations (promotions first); when
the queue is empty, the next offspring is bred into the newest generation while its lowest rung
lacks offspring, and otherwise into the next generation, which then starts early from the
current population (plus the members of unfinished generations that have a result, as
parents). So a generation's rung holds exactly its quota and closes as soon as its
own evaluations are told, whatever the number of workers (with one worker nothing starts
early, and the algorithm is the sequential one). Several generations may be in flight; each
folds into the population when its last rung closes. Failure policy (``optimizers.base``): a
diverged training is ranked by its recorded error; a failed evaluation has fitness +inf.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mfbench.core.errors import UsageError
from mfbench.core.types import Capabilities, Result, Trial
from mfbench.optimizers.base import Optimizer
from mfbench.optimizers.native.encoding import VectorCodec, legacy_rng, make_rng
from mfbench.training.space import config_id

log = logging.getLogger(__name__)

GA_DEFAULTS: dict[str, Any] = {
    "population_size": 20,
    "tournament_size": 3,
    "crossover_rate": 0.9,
    "mutation_rate": None,  # None = 1 / number of active, non-constant hyperparameters
    "mutation_sigma": 0.15,  # Gaussian step on the normalized (log-aware) [0, 1] scale
    "elitism": 2,
    "max_tries": 50,  # rejected (duplicate) children before falling back to a prior sample
    # accepted so that the runner can pass it to every optimizer; ``ga`` trains every
    # configuration once, from scratch, at the largest budget, so it changes nothing there
    "continuation": True,
}
GA_MF_DEFAULTS: dict[str, Any] = {**GA_DEFAULTS, "eta": 3, "rungs": None}


@dataclass
class Individual:
    uid: int
    config: dict[str, Any]
    vector: np.ndarray
    cid: str
    generation: int
    errors: dict[int, float] = field(default_factory=dict)  # rung index -> observed val error

    @property
    def top_rung(self) -> int:
        return max(self.errors) if self.errors else -1

    def key(self) -> tuple[int, float, int]:
        """Lexicographic fitness (smaller is better): highest rung first, then its error."""
        top = self.top_rung
        return (-top, self.errors.get(top, math.inf), self.uid)


@dataclass
class _Generation:
    index: int
    quota: int  # offspring to breed before the lowest rung may close
    members: list[Individual] = field(default_factory=list)
    rung: int = 0  # rung being evaluated
    cohort: list[Individual] = field(default_factory=list)  # members at ``rung``
    outstanding: set[int] = field(default_factory=set)  # uids queued or asked, not told, at ``rung``


class GeneticAlgorithm(Optimizer):
    """``ga``: a generational GA with elitism; every evaluation at the largest budget."""

    name = "ga"
    capabilities = Capabilities(multi_fidelity=False, continuation=False)
    on_crash = "fitness +inf"
    _defaults = GA_DEFAULTS

    def __init__(self, space, budgets, seed, **options):
        super().__init__(space, budgets, seed, **options)
        o = self.resolve_options(options, self._defaults)
        self.population_size = int(o["population_size"])
        self.tournament_size = int(o["tournament_size"])
        self.crossover_rate = float(o["crossover_rate"])
        self.mutation_rate = None if o["mutation_rate"] is None else float(o["mutation_rate"])
        self.mutation_sigma = float(o["mutation_sigma"])
        self.elitism = int(o["elitism"])
        self.max_tries = int(o["max_tries"])
        if self.population_size < 2 or not 0 <= self.elitism < self.population_size:
            raise UsageError(f"{self.name}: need population_size >= 2 and 0 <= elitism < population_size")
        if self.tournament_size < 1 or not 0.0 <= self.crossover_rate <= 1.0 or self.mutation_sigma <= 0:
            raise UsageError(f"{self.name}: need tournament_size >= 1, 0 <= crossover_rate <= 1, mutation_sigma > 0")
        if self.mutation_rate is not None and not 0.0 < self.mutation_rate <= 1.0:
            raise UsageError(f"{self.name}: mutation_rate must be in (0, 1] or None")
        self._setup_rungs(o)
        self.codec = VectorCodec(space)
        self._rng_breed = make_rng(self.seed, f"{self.name}:breed")
        self._rng_random = make_rng(self.seed, f"{self.name}:random")
        self._rs_prior = legacy_rng(make_rng(self.seed, f"{self.name}:prior"))
        self.population: list[Individual] = []
        self._parents: list[Individual] = []  # the breeding pool of the child being bred
        self._generations: list[_Generation] = []
        self._n_generations = 0
        self._queue: deque[tuple[Individual, int]] = deque()
        self._asked: dict[int, tuple[_Generation, Individual, int]] = {}  # uid -> (generation, individual, rung)
        self._seen: set[str] = set()
        self._next_uid = 0
        self.n_forced_duplicates = 0

    # ----------------------------------------------------------------- configuration
    def _setup_rungs(self, o: dict[str, Any]) -> None:
        self.rungs = [self.max_budget]
        self.eta = 1
        self.continuation = False

    def settings(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "seed": self.seed,
            "population_size": self.population_size,
            "tournament_size": self.tournament_size,
            "crossover_rate": self.crossover_rate,
            "mutation_rate": self.mutation_rate,
            "mutation_sigma": self.mutation_sigma,
            "elitism": self.elitism,
            "max_tries": self.max_tries,
            "rungs": list(self.rungs),
        }
        if len(self.rungs) > 1:
            out.update(eta=self.eta, continuation=self.continuation)
        return out

    # ----------------------------------------------------------------- ask / tell
    def ask(self) -> Trial:
        if not self._queue:
            # breed into the newest generation while its lowest rung still lacks offspring;
            # once it has its quota, the next generation starts early (from the current
            # population) instead, so that W parallel workers never keep a rung from closing
            gen = self._generations[-1] if self._generations else None
            if gen is None or gen.rung > 0 or len(gen.members) >= gen.quota:
                gen = self._open_generation()
            child = self._breed(gen.index)
            gen.members.append(child)
            gen.cohort.append(child)
            gen.outstanding.add(child.uid)
            self._queue.append((child, 0))
        ind, rung = self._queue.popleft()
        gen = next(g for g in self._generations if g.index == ind.generation)
        self._asked[ind.uid] = (gen, ind, rung)
        return self._trial(ind, rung)

    def tell(self, trial: Trial, result: Result) -> None:
        uid, rung = trial.info
        if uid not in self._asked or self._asked[uid][2] != rung:
            raise ValueError(f"{self.name}: told a trial that was not asked (or told twice): {trial}")
        gen, ind, _ = self._asked.pop(uid)
        obs = self.observe(result)  # the failure policy: a crash has fitness +inf, a divergence its error
        ind.errors[rung] = math.inf if obs.crashed else obs.loss
        gen.outstanding.discard(uid)
        self._advance(gen)

    # ----------------------------------------------------------------- internals
    def _trial(self, ind: Individual, rung: int) -> Trial:
        budget = self.rungs[rung]
        if self.continuation:
            prev = self.rungs[rung - 1] if rung > 0 else 0
            return Trial(dict(ind.config), budget, mode="continue", resume_from=prev, info=(ind.uid, rung))
        return Trial(dict(ind.config), budget, mode="scratch", resume_from=None, info=(ind.uid, rung))

    def _open_generation(self) -> _Generation:
        quota = self.population_size if self._n_generations == 0 else self.population_size - self.elitism
        gen = _Generation(index=self._n_generations, quota=max(quota, 1))
        self._n_generations += 1
        self._generations.append(gen)
        return gen

    def _advance(self, gen: _Generation) -> None:
        """Close the generation's current rung when it is full and fully told: promote, or
        (at the last rung) fold the generation into the population."""
        while not gen.outstanding and (gen.rung > 0 or len(gen.members) >= gen.quota):
            if gen.rung == len(self.rungs) - 1:
                self._complete(gen)
                return
            ranked = sorted(gen.cohort, key=lambda i: (i.errors.get(gen.rung, math.inf), i.uid))
            k = max(1, len(ranked) // self.eta)
            gen.rung += 1
            gen.cohort = ranked[:k]
            for ind in gen.cohort:
                gen.outstanding.add(ind.uid)
                self._queue.append((ind, gen.rung))
            log.debug(
                "%s: generation %d promotes %d of %d to rung %d",
                self.name,
                gen.index,
                k,
                len(ranked),
                self.rungs[gen.rung],
            )

    def _complete(self, gen: _Generation) -> None:
        self._generations.remove(gen)
        offspring = sorted(gen.members, key=Individual.key)
        if not self.population:
            self.population = offspring[: self.population_size]
        else:
            elites = sorted(self.population, key=Individual.key)[: self.elitism]
            self.population = sorted(elites + offspring[: self.population_size - self.elitism], key=Individual.key)
        log.debug("%s: generation %d complete, best key %s", self.name, gen.index, self.population[0].key())

    def _pool(self, generation: int) -> list[Individual]:
        """The parents a child of ``generation`` may have: the population, plus (only while older
        generations are still in flight, i.e. with parallel workers) their members that have a
        result already — ranked by the same lexicographic key, so a low-rung result never
        outranks a completed one. With one worker the older generations are complete when a
        generation breeds, and the pool is the population: the sequential algorithm."""
        members = {ind.uid for ind in self.population}
        told = [
            ind
            for g in self._generations
            if g.index < generation
            for ind in g.members
            if ind.errors and ind.uid not in members
        ]
        return self.population + told if told else self.population

    def _tournament(self) -> Individual:
        rng, pool = self._rng_breed, self._parents or self.population
        idx = rng.choice(len(pool), size=min(self.tournament_size, len(pool)), replace=False)
        return min((pool[int(i)] for i in idx), key=Individual.key)

    def _fill(self, j: int) -> float:
        """A value for a newly active hyperparameter: from the gene pool, else the prior."""
        pool = [ind.vector[j] for ind in self._parents or self.population if not np.isnan(ind.vector[j])]
        if pool:
            return float(pool[int(self._rng_breed.integers(len(pool)))])
        return self.codec.prior_value(j, self._rs_prior)

    def _variation(self) -> np.ndarray:
        rng, codec = self._rng_breed, self.codec
        p1 = self._tournament()
        child = p1.vector.copy()
        if rng.random() < self.crossover_rate:
            p2 = self._tournament()
            for _ in range(3):  # prefer a distinct second parent
                if p2.uid != p1.uid or len(self._parents or self.population) < 2:
                    break
                p2 = self._tournament()
            a, b = p1.vector, p2.vector
            pick_a = rng.random(codec.dim) < 0.5
            child = np.where(pick_a, a, b)
            child = np.where(np.isnan(child), np.where(pick_a, b, a), child)
        child = codec.repair(child, self._fill)
        child = codec.mutate(child, rng, self.mutation_rate, self.mutation_sigma)
        return codec.repair(child, self._fill)

    def _breed(self, generation: int) -> Individual:
        self._parents = self._pool(generation)
        try:
            return self._breed_from_parents(generation)
        finally:
            self._parents = []  # outside a breeding, tournaments and the gene pool use the population

    def _breed_from_parents(self, generation: int) -> Individual:
        vec = None
        if self._parents:
            for _ in range(self.max_tries):
                cand = self._variation()
                if self.codec.is_allowed(cand) and self._is_new(cand):
                    vec = cand
                    break
        if vec is None:  # generation 0, or variation keeps reproducing known configs
            for _ in range(20):
                batch = self.codec.sample(50, self._rng_random)
                fresh = [v for v in batch if self._is_new(v)]
                if fresh:
                    vec = fresh[0]
                    break
        if vec is None:
            self.n_forced_duplicates += 1
            vec = self.codec.sample(1, self._rng_random)[0]
            if self.n_forced_duplicates == 1:  # once per run: on a small grid it is every proposal from here on
                log.warning(
                    "%s: no unseen configuration found (space exhausted?); re-evaluating known ones from now on",
                    self.name,
                )
        config = self.codec.decode(vec)
        cid = config_id(config)
        self._seen.add(cid)
        ind = Individual(
            uid=self._next_uid, config=config, vector=self.codec.encode(config), cid=cid, generation=generation
        )
        self._next_uid += 1
        return ind

    def _is_new(self, vec: np.ndarray) -> bool:
        return config_id(self.codec.decode(vec)) not in self._seen


class MultiFidelityGA(GeneticAlgorithm):
    """``ga-mf``: each generation is a successive-halving bracket over the rungs."""

    name = "ga-mf"
    capabilities = Capabilities(multi_fidelity=True, continuation=True)
    _defaults = GA_MF_DEFAULTS

    def _setup_rungs(self, o: dict[str, Any]) -> None:
        rungs = self.budgets if o["rungs"] is None else sorted(int(b) for b in o["rungs"])
        off = [b for b in rungs if b not in self.budgets]
        if off or len(set(rungs)) != len(rungs):
            raise UsageError(f"{self.name}: rungs {rungs} must be distinct budgets of the ladder {self.budgets}")
        if rungs[-1] != self.max_budget:
            raise UsageError(f"{self.name}: the last rung must be the largest budget {self.max_budget}")
        self.rungs = [self.check_budget(b) for b in rungs]
        self.eta = int(o["eta"])
        if self.eta < 2:
            raise UsageError(f"{self.name}: eta must be >= 2")
        self.continuation = bool(o["continuation"])
