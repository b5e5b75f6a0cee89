"""What ``mfbench replay`` does with no options: the default study's benchmarks, seeds, budget and
folder. A module of its own, free of heavy imports, so that the command line's help text reads
the same values the study runs with instead of restating them (the help once said 30 seeds
after the study had moved to 50)."""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_BENCHMARKS = ("digits-grid", "digits-cnn-surrogate")
DEFAULT_SEEDS = tuple(range(10))
#: The default study spends its seeds where they buy a verdict. On the surrogate 50 seeds at
#: 10x make the ranking of 20 optimizers reproduce (split-half reliability, README: session 10's
#: GP surrogate, closer to the table, separates the optimizers less than the trees did: 30 seeds
#: predicted 38 needed at 100 % of the budget, 40 seeds predicted 43); on the
#: exact table every optimizer ends within a point of test accuracy of the others, so that no
#: affordable number of seeds separates them (263 would be needed at 100 % of the budget, README), and 10 seeds give its
#: framework table and confusion matrices.
DEFAULT_STUDY_SEEDS = {"digits-grid": DEFAULT_SEEDS, "digits-cnn-surrogate": tuple(range(50))}
DEFAULT_BUDGET = "10x"
DEFAULT_OUT = "runs/default"


def seeds_text(seeds: Sequence[int]) -> str:
    """``0-49`` for a contiguous range, else ``0,2,5``: how ``--seeds`` is written."""
    s = [int(x) for x in seeds]
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"{s[0]}-{s[-1]}"
    return ",".join(map(str, s))


def default_study_text() -> str:
    """The default study in words, for help texts: ``digits-grid with seeds 0-9 and ...``."""
    parts = [f"{b} with seeds {seeds_text(s)}" for b, s in DEFAULT_STUDY_SEEDS.items()]
    return " and ".join(parts) + f", every usable optimizer, budget {DEFAULT_BUDGET}"
