"""How many configurations each multi-fidelity optimizer evaluates at each rung, on the ladder
1, 3, 9, 27, 81 (eta = 3), beside Li et al. (2017), Table 1.

Each optimizer runs alone (one worker) on a synthetic objective over the ``cnn`` space, for
the epochs of one whole Hyperband iteration of Table 1 (1,902 epochs trained from scratch).
Brackets are the library's own where its trial handles name them (hpbandster, DEHB, Keras
Tuner); elsewhere a *segment* is a maximal run of evaluations whose budgets never decrease,
which for a synchronous bracket driven by one worker is the bracket (successive halving from
its lowest rung up; two adjacent one-rung brackets at the top merge into one segment).
Asynchronous optimizers (ASHA, Optuna's Hyperband pruner, OptiML) have no brackets: read their
totals per rung.

    python scripts/rung_table.py            # markdown table on stdout
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter

from mfbench.core.errors import SearchExhausted
from mfbench.execution.runner import _Checker
from mfbench.objectives.synthetic import SyntheticObjective
from mfbench.optimizers.base import for_objective
from mfbench.optimizers.registry import get_optimizer_class
from mfbench.training.space import get_space

LADDER = (1, 3, 9, 27, 81)
#: Li et al. (2017), Table 1 (R = 81, eta = 3): bracket s -> configurations at each rung
LI_TABLE_1 = {
    4: {1: 81, 3: 27, 9: 9, 27: 3, 81: 1},
    3: {3: 34, 9: 11, 27: 3, 81: 1},
    2: {9: 15, 27: 5, 81: 1},
    1: {27: 8, 81: 2},
    0: {81: 5},
}
ITERATION_EPOCHS = sum(n * b for bracket in LI_TABLE_1.values() for b, n in bracket.items())  # 1,902
OPTIMIZERS = ["hyperband", "bohb", "smac-hb", "dehb", "kt-hyperband", "tpe-hb", "tpe-asha", "ga-mf", "optiml"]


def bracket_of(trial) -> object:
    """The bracket a library says a trial belongs to, where its trial handle says it."""
    info = trial.info
    if isinstance(info, dict):
        if "bracket_id" in info:  # DEHB
            return info["bracket_id"]
        if isinstance(info.get("config_id"), tuple):  # hpbandster: (iteration, ...)
            return info["config_id"][0]
        if "bracket" in info:  # Keras Tuner
            return info["bracket"]
    return None


def trace(name: str, seed: int = 0) -> list[tuple[int, str, int, object]]:
    """(budget, mode, epochs paid, bracket) of each evaluation until one Hyperband iteration's
    epochs are spent."""
    obj = SyntheticObjective(get_space("cnn"), LADDER, noise=0.02)
    opt = for_objective(get_optimizer_class(name), obj, seed=seed)
    check = _Checker(obj, name, validate=False)
    out, spent, i = [], 0, 0
    while spent < ITERATION_EPOCHS:
        try:
            t = opt.ask()
        except SearchExhausted:
            break
        check(t)
        res = obj.evaluate(t.config, t.budget, i, mode=t.mode, resume_from=t.resume_from)
        opt.tell(t, res)
        out.append((t.budget, t.mode, res.cost_epochs, bracket_of(t)))
        spent += res.cost_epochs
        i += 1
    return out


def segments(tr: list[tuple[int, str, int, object]]) -> list[Counter]:
    """Rung counts per bracket (the library's own bracket where its trials say it, else per
    segment of non-decreasing budgets), in the order brackets first appear."""
    if all(br is not None for *_, br in tr):
        order: dict[object, Counter] = {}
        for b, *_, br in tr:
            order.setdefault(br, Counter())[b] += 1
        return list(order.values())
    segs: list[Counter] = []
    prev = None
    for b, *_ in tr:
        if prev is None or b < prev:
            segs.append(Counter())
        segs[-1][b] += 1
        prev = b
    return segs


def fmt(counter: Counter) -> str:
    return ", ".join(f"{counter[b]}@{b}" for b in LADDER if counter.get(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    print(
        f"Ladder {LADDER}, eta = 3; each optimizer runs for {ITERATION_EPOCHS} epochs (one Hyperband "
        "iteration of Li et al., Table 1, trained from scratch).\n"
    )
    print("| bracket / segment | " + " | ".join(["Li et al. (2017)", *args.optimizers.split(",")]) + " |")
    print("|---" * (2 + len(args.optimizers.split(","))) + "|")
    traces = {n: trace(n) for n in args.optimizers.split(",")}
    segs = {n: segments(tr) for n, tr in traces.items()}
    for k, s in enumerate(sorted(LI_TABLE_1, reverse=True)):
        cells = [fmt(Counter(LI_TABLE_1[s]))] + [fmt(segs[n][k]) if k < len(segs[n]) else "" for n in traces]
        print(f"| s={s} / segment {k + 1} | " + " | ".join(cells) + " |")
    totals = [fmt(sum((Counter(v) for v in LI_TABLE_1.values()), Counter()))]
    totals += [fmt(Counter(b for b, *_ in tr)) for tr in traces.values()]
    print("| all, within the epochs | " + " | ".join(totals) + " |")
    modes = ["scratch"] + [
        ("continue" if any(m == "continue" for _, m, *_ in tr) else "scratch") for tr in traces.values()
    ]
    print("| mode of a promotion | " + " | ".join(modes) + " |")


if __name__ == "__main__":
    main()
