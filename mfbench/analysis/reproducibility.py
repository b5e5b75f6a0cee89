"""Would a ranking over benchmarks reproduce with other optimizer seeds? The seed split.

``stats.split_half`` resamples the blocks. When the blocks are benchmarks, both halves hold the
same optimizer seeds, and a seed draws the same random stream on every benchmark of one space:
on LCBench's 34 alike tasks an optimizer's luck on seed 0 was shared by all of them, so the
seed-0 ranking had split-half 0.92 yet agreed with the ranking from seeds 1-4 at only 0.41.
This module measures what the task split cannot:

- **seed split**: halves of the seeds, every benchmark in both halves. Its Spearman–Brown
  extrapolation predicts how a study agrees with a rerun on the same benchmarks with other
  seeds, and inverted, how many seeds that needs.
- **crossed split**: halves of the benchmarks *and* halves of the seeds, so that the two halves
  share nothing. It is the agreement a reader can expect from an independent study (other
  tasks of the same kind, other seeds); its Spearman–Brown extrapolation (factor 2, as if both
  halves were doubled) is the headline: ``reproduces`` is read from it.

Per half, a benchmark's score is the optimizer's score averaged over the half's seeds; methods
are ranked within each benchmark and the ranks averaged over the half's benchmarks, as the
report does for the whole study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from mfbench.analysis.stats import _rowwise_spearman, blocks_needed, count_text, json_number, rank_rows, spearman_brown


def _seed_half_pairs(n_seeds: int, n_splits: int, rng: np.random.Generator) -> list[tuple[tuple, tuple]]:
    """Disjoint pairs of seed halves (``n_seeds // 2`` seeds each): all of them when there are at
    most ``n_splits`` (each unordered pair once), else ``n_splits`` random ones."""
    h = n_seeds // 2
    seeds = range(n_seeds)
    pairs = []
    for a in combinations(seeds, h):
        rest = [s for s in seeds if s not in a]
        pairs += [(a, b) for b in combinations(rest, h) if a < b]
        if len(pairs) > n_splits:
            break
    if len(pairs) <= n_splits:
        return pairs
    out = []
    for _ in range(n_splits):
        p = rng.permutation(n_seeds)
        out.append((tuple(sorted(p[:h])), tuple(sorted(p[h : 2 * h]))))
    return out


@dataclass
class SeedSplit:
    """Seed-split and crossed reliability of a ranking over benchmarks; ``reading`` is its line."""

    n_benchmarks: int
    n_seeds: int  # seeds every benchmark has for every method
    seed_half: int
    benchmark_half: int
    n_seed_splits: int
    seed_mean: float  # Spearman between the rankings of two seed halves on every benchmark
    seed_p05: float
    seed_full: float  # Spearman–Brown: this study against a rerun with as many other seeds
    seeds_for_target: float
    n_cross_splits: int
    cross_mean: float  # Spearman between halves that share neither benchmarks nor seeds
    cross_p05: float
    cross_full: float  # Spearman–Brown (factor 2): against a study sharing neither
    target: float = 0.9

    @property
    def measurable(self) -> bool:
        return math.isfinite(self.seed_mean)

    @property
    def reproduces(self) -> bool:
        return bool(math.isfinite(self.cross_full) and self.cross_full >= self.target)

    def reading(self) -> str:
        if not self.measurable:
            return (
                f"with other seeds: not measurable ({self.n_seeds} seed{'s' if self.n_seeds != 1 else ''} common "
                "to every benchmark; need at least 2). A seed draws the same random stream on every benchmark, "
                "so a ranking from one seed can change with the next"
            )
        need_s = count_text(self.seeds_for_target)
        cross = (
            f"; with other benchmarks and other seeds it would {'' if self.reproduces else 'not '}reproduce: "
            f"\u03c1 \u2248 {self.cross_full:.2f} (halves sharing neither, {self.benchmark_half} benchmarks \u00d7 "
            f"{self.seed_half} seeds each, agree at {self.cross_mean:.2f}, 5th percentile {self.cross_p05:.2f}, over "
            f"{self.n_cross_splits} random splits)"
            if math.isfinite(self.cross_mean)
            else "; with other benchmarks and other seeds: not measurable (fewer than 4 benchmarks)"
        )
        return (
            f"with other seeds on these {self.n_benchmarks} benchmarks: \u03c1 = {self.seed_full:.2f} (seed halves "
            f"{self.seed_half} vs {self.seed_half} agree at {self.seed_mean:.2f}, 5th percentile {self.seed_p05:.2f}, "
            f"over {self.n_seed_splits} splits); seeds needed for \u03c1 \u2265 {self.target:g}: {need_s}" + cross
        )

    def short(self) -> str:
        """The reading, short enough for a figure's title."""
        if not self.measurable:
            return f"other seeds: not measurable ({self.n_seeds} seed)"
        cross = (
            f"; other benchmarks and seeds \u03c1 \u2248 {self.cross_full:.2f}: would "
            f"{'' if self.reproduces else 'NOT '}reproduce"
            if math.isfinite(self.cross_full)
            else ""
        )
        return f"same benchmarks, other seeds: \u03c1 = {self.seed_full:.2f} (halves {self.seed_mean:.2f})" + cross

    def to_dict(self) -> dict[str, Any]:
        num = json_number
        return {
            "n_benchmarks": self.n_benchmarks,
            "n_seeds": self.n_seeds,
            "seed_half": self.seed_half,
            "benchmark_half": self.benchmark_half,
            "n_seed_splits": self.n_seed_splits,
            "seed_split_spearman_mean": num(self.seed_mean),
            "seed_split_spearman_p05": num(self.seed_p05),
            "seed_split_spearman_brown_full": num(self.seed_full),
            "seeds_needed_for_target": num(self.seeds_for_target),
            "seeds_needed_infinite": bool(math.isinf(self.seeds_for_target)),
            "n_cross_splits": self.n_cross_splits,
            "cross_split_spearman_mean": num(self.cross_mean),
            "cross_split_spearman_p05": num(self.cross_p05),
            "cross_split_spearman_brown_full": num(self.cross_full),
            "target": self.target,
            "reproduces": self.reproduces,
            "reading": self.reading(),
            "method": "seed split: disjoint halves of the seeds, every benchmark in both, scores averaged over a "
            "half's seeds, ranked within benchmarks, ranks averaged; crossed: disjoint halves of the benchmarks "
            "and of the seeds; Spearman between halves; Spearman-Brown (factor 2) for the whole study",
        }


def seed_split(
    cube: np.ndarray,
    *,
    higher_is_better: bool = False,
    n_splits: int = 2000,
    seed: int = 0,
    target: float = 0.9,
) -> SeedSplit:
    """Seed-split and crossed reliability of the average-rank ranking of a (benchmarks, seeds,
    methods) table of scores (seeds paired: index ``j`` is the same seed on every benchmark).

    Benchmarks with a missing value are dropped. With fewer than 2 seeds nothing is measured;
    with fewer than 4 benchmarks the crossed split is not (halves of one benchmark).
    """
    cube = np.asarray(cube, dtype=float)
    if cube.ndim != 3:
        raise ValueError(f"expected a (benchmarks, seeds, methods) array, got shape {cube.shape}")
    cube = cube[~np.isnan(cube).any(axis=(1, 2))]
    n, s, _ = cube.shape
    sh, bh = s // 2, n // 2
    nan = math.nan
    if sh < 1 or n < 1 or cube.shape[2] < 2:
        return SeedSplit(n, s, sh, bh, 0, nan, nan, nan, nan, 0, nan, nan, nan, target)
    rng = np.random.default_rng(seed)
    pairs = _seed_half_pairs(s, n_splits, rng)
    # ranks within each benchmark of the scores averaged over each seed half used: (halves, n, methods)
    halves = list(dict.fromkeys(h for pair in pairs for h in pair))
    where = {h: i for i, h in enumerate(halves)}
    half_ranks = np.stack([rank_rows(cube[:, list(h)].mean(axis=1), higher_is_better) for h in halves])
    ia = np.array([where[p] for p, _ in pairs])
    ib = np.array([where[q] for _, q in pairs])
    rho = _rowwise_spearman(half_ranks[ia].mean(axis=1), half_ranks[ib].mean(axis=1))
    ok = rho[np.isfinite(rho)]
    seed_mean = float(ok.mean()) if ok.size else nan
    seed_p05 = float(np.percentile(ok, 5)) if ok.size else nan
    cross_mean = cross_p05 = nan
    n_cross = 0
    if bh >= 2:
        # each draw: a random pair of seed halves and a random split of the benchmarks
        n_cross = n_splits
        pick = rng.integers(len(pairs), size=n_cross)
        perm = np.argsort(rng.random((n_cross, n)), axis=1)
        a = half_ranks[ia[pick][:, None], perm[:, :bh]].mean(axis=1)
        b = half_ranks[ib[pick][:, None], perm[:, bh : 2 * bh]].mean(axis=1)
        crho = _rowwise_spearman(a, b)
        cok = crho[np.isfinite(crho)]
        if cok.size:
            cross_mean, cross_p05 = float(cok.mean()), float(np.percentile(cok, 5))
    return SeedSplit(
        n_benchmarks=n,
        n_seeds=s,
        seed_half=sh,
        benchmark_half=bh,
        n_seed_splits=len(pairs),
        seed_mean=seed_mean,
        seed_p05=seed_p05,
        seed_full=spearman_brown(seed_mean, 2.0),
        seeds_for_target=blocks_needed(seed_mean, sh, target),
        n_cross_splits=n_cross,
        cross_mean=cross_mean,
        cross_p05=cross_p05,
        cross_full=spearman_brown(cross_mean, 2.0),
        target=target,
    )
